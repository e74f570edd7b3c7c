#pragma once

// Destinations for the generator's streams: a directory of NDJSON files, or memory (for tests).

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "synth/emitter.h"

namespace fhirbridge::synth {

// Writes each stream to <directory>/<stream>.ndjson, creating a file on its first line.
// Not thread-safe.
class DirectoryOutput final : public SynthOutput {
 public:
  // Creates `directory` if needed. A directory that already holds .ndjson files is refused
  // (kInvalidParameter), so that files of an earlier run never mix with new ones, unless
  // `overwrite` is set, which deletes those .ndjson files (and nothing else) first. kIoFailure
  // when the directory cannot be created or read.
  static base::Result<std::unique_ptr<DirectoryOutput>> Open(const std::filesystem::path& directory,
                                                             bool overwrite);

  ~DirectoryOutput() override;
  DirectoryOutput(const DirectoryOutput&) = delete;
  DirectoryOutput& operator=(const DirectoryOutput&) = delete;

  base::Status Append(std::string_view name, std::string_view lines) override;

  // Flushes and closes every file; kIoFailure naming the file when that fails. Must be called
  // before the files are read; the destructor closes without reporting.
  base::Status Close();

 private:
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  using File = std::unique_ptr<std::FILE, FileCloser>;

  explicit DirectoryOutput(std::filesystem::path directory) : directory_(std::move(directory)) {}

  std::filesystem::path directory_;
  std::map<std::string, File, std::less<>> files_;
};

// Keeps every stream in memory, for tests and small sets.
class MemoryOutput final : public SynthOutput {
 public:
  base::Status Append(std::string_view name, std::string_view lines) override;

  // Stream name to its whole content.
  const std::map<std::string, std::string, std::less<>>& streams() const { return streams_; }

 private:
  std::map<std::string, std::string, std::less<>> streams_;
};

}  // namespace fhirbridge::synth
