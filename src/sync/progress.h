#pragma once

// Progress of a sync: events the engine emits as it goes, shown as a progress bar on a terminal
// and as structured log lines otherwise.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "base/error.h"

namespace fhirbridge::sync {

struct ProgressEvent {
  enum class Kind { kTypeStarted, kPageCommitted, kRestarted, kTypeFinished, kExportPolled };
  Kind kind = Kind::kPageCommitted;
  std::string site;
  std::string resource_type;
  std::string strategy;
  std::string request_id;
  std::int64_t requests = 0;         // so far, for this type
  std::int64_t resources = 0;        // resources and tombstones received so far
  std::int64_t expected = -1;        // the site's total when it gave one, else -1
  bool succeeded = true;             // kTypeFinished only
  std::optional<base::Error> error;  // kTypeFinished when it failed; kRestarted: why
  std::string export_progress;       // kExportPolled: the site's X-Progress, at most 64 bytes
};

class ProgressObserver {
 public:
  virtual ~ProgressObserver() = default;
  virtual void OnEvent(const ProgressEvent& event) = 0;
};

// Logs events through observe/log.h: type start and finish at info, pages at debug.
class LogProgress : public ProgressObserver {
 public:
  void OnEvent(const ProgressEvent& event) override;
};

// Redraws one line on `stream` (a terminal) per page, and logs start, restarts and finish.
class TerminalProgress : public ProgressObserver {
 public:
  explicit TerminalProgress(std::FILE* stream) : stream_(stream) {}
  void OnEvent(const ProgressEvent& event) override;

 private:
  std::FILE* stream_;
  std::mutex mutex_;
  LogProgress log_;
};

}  // namespace fhirbridge::sync
