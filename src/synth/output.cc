#include "synth/output.h"

#include <system_error>
#include <vector>

namespace fhirbridge::synth {
namespace {

using base::ErrorCode;

// Large buffers: the generator writes hundreds of megabytes in many small appends.
constexpr std::size_t kFileBufferBytes = 1 << 20;

}  // namespace

base::Result<std::unique_ptr<DirectoryOutput>> DirectoryOutput::Open(
    const std::filesystem::path& directory, bool overwrite) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return base::Fail(ErrorCode::kIoFailure,
                      "Cannot create the output directory: " + error.message() + ".", "--out");
  }

  std::vector<std::filesystem::path> existing;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end;
       it.increment(error)) {
    if (it->path().extension() == ".ndjson") existing.push_back(it->path());
  }
  if (error) {
    return base::Fail(ErrorCode::kIoFailure,
                      "Cannot read the output directory: " + error.message() + ".", "--out");
  }
  if (!existing.empty() && !overwrite) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "The output directory already holds .ndjson files; choose an empty "
                      "directory or pass --overwrite to replace them.",
                      "--out");
  }
  for (const auto& path : existing) {
    if (!std::filesystem::remove(path, error) || error) {
      return base::Fail(ErrorCode::kIoFailure,
                        "Cannot remove " + path.filename().string() +
                            " from the output "
                            "directory.",
                        "--out");
    }
  }
  return std::unique_ptr<DirectoryOutput>(new DirectoryOutput(directory));
}

DirectoryOutput::~DirectoryOutput() = default;

base::Status DirectoryOutput::Append(std::string_view name, std::string_view lines) {
  auto found = files_.find(name);
  if (found == files_.end()) {
    const std::filesystem::path path = directory_ / (std::string(name) + ".ndjson");
    File file(std::fopen(path.c_str(), "wb"));
    if (!file) {
      return base::Fail(ErrorCode::kIoFailure,
                        "Cannot create " + path.filename().string() + " in the output directory.",
                        "--out");
    }
    std::setvbuf(file.get(), nullptr, _IOFBF, kFileBufferBytes);
    found = files_.emplace(std::string(name), std::move(file)).first;
  }
  if (std::fwrite(lines.data(), 1, lines.size(), found->second.get()) != lines.size()) {
    return base::Fail(ErrorCode::kIoFailure,
                      "Writing " + found->first + ".ndjson failed; is the disk full?", "--out");
  }
  return {};
}

base::Status DirectoryOutput::Close() {
  base::Status status;
  for (auto& [name, file] : files_) {
    std::FILE* raw = file.release();
    const bool flushed = std::fflush(raw) == 0;
    const bool closed = std::fclose(raw) == 0;
    if ((!flushed || !closed) && status) {
      status = base::Fail(ErrorCode::kIoFailure,
                          "Finishing " + name + ".ndjson failed; is the disk full?", "--out");
    }
  }
  files_.clear();
  return status;
}

base::Status MemoryOutput::Append(std::string_view name, std::string_view lines) {
  auto found = streams_.find(name);
  if (found == streams_.end()) found = streams_.emplace(std::string(name), std::string()).first;
  found->second.append(lines);
  return {};
}

}  // namespace fhirbridge::synth
