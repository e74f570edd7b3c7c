#include "sync/progress.h"

#include "observe/log.h"

namespace fhirbridge::sync {

namespace {

using observe::LogEvent;
using observe::LogLevel;
using observe::NonPhi;

LogEvent BaseEvent(const ProgressEvent& event) {
  LogEvent log;
  log.subsystem = "sync";
  log.site = event.site;
  log.correlation_id = event.request_id;
  log.attributes = {{"resource_type", NonPhi{event.resource_type}},
                    {"strategy", NonPhi{event.strategy}},
                    {"requests", event.requests},
                    {"resources", event.resources}};
  return log;
}

}  // namespace

void LogProgress::OnEvent(const ProgressEvent& event) {
  LogEvent log = BaseEvent(event);
  switch (event.kind) {
    case ProgressEvent::Kind::kTypeStarted:
      log.event = "sync.type.started";
      log.message = "Sync of a resource type started.";
      break;
    case ProgressEvent::Kind::kPageCommitted:
      log.level = LogLevel::kDebug;
      log.event = "sync.page.committed";
      log.message = "A page and its checkpoint were committed.";
      if (event.expected >= 0) log.attributes.push_back({"expected", event.expected});
      break;
    case ProgressEvent::Kind::kRestarted:
      log.level = LogLevel::kWarning;
      log.event = "sync.window.restarted";
      log.message = "The paging session ended early; restarting from the checkpoint.";
      log.error = event.error;
      break;
    case ProgressEvent::Kind::kExportPolled:
      log.event = "sync.export.polled";
      log.message = "The Bulk Data export is still running.";
      log.attributes.push_back({"export_progress", NonPhi{event.export_progress}});
      break;
    case ProgressEvent::Kind::kTypeFinished:
      log.level = event.succeeded ? LogLevel::kInfo : LogLevel::kError;
      log.event = event.succeeded ? observe::Literal("sync.type.succeeded")
                                  : observe::Literal("sync.type.failed");
      log.message = event.succeeded
                        ? observe::Literal("Sync of a resource type finished.")
                        : observe::Literal(
                              "Sync of a resource type failed; its checkpoint stays where the "
                              "last stored page left it. See the quarantine and the run record.");
      log.error = event.error;
      break;
  }
  observe::Log(log);
}

void TerminalProgress::OnEvent(const ProgressEvent& event) {
  std::lock_guard lock(mutex_);
  if (event.kind != ProgressEvent::Kind::kPageCommitted) {
    std::fputs("\r\033[K", stream_);
    log_.OnEvent(event);
    return;
  }
  constexpr int kWidth = 30;
  std::string bar;
  if (event.expected > 0) {
    const std::int64_t filled =
        std::min<std::int64_t>(kWidth, event.resources * kWidth / event.expected);
    bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
          std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] ";
  }
  std::fprintf(stream_, "\r\033[K%s %s %s%lld resources, %lld requests",
               event.resource_type.c_str(), event.strategy.c_str(), bar.c_str(),
               static_cast<long long>(event.resources), static_cast<long long>(event.requests));
  std::fflush(stream_);
}

}  // namespace fhirbridge::sync
