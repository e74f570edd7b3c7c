// The fhirbridge command as a user meets it: every command and subcommand answers --help with a
// usage text and exit code 0, the README's command reference names every command, and the
// documented exit codes (src/cli/exit_codes.h) come back for the documented kinds of mistake.
// Commands are found by walking the help output from the top, so a new command is covered
// without editing this file.

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fhirbridge {
namespace {

struct CommandRun {
  int exit_code = -1;
  std::string output;  // standard output and standard error together
};

CommandRun RunFhirbridge(const std::string& arguments) {
  const std::string command = std::string(FHIRBRIDGE_BINARY) + " " + arguments + " 2>&1";
  CommandRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  while (const std::size_t read = std::fread(buffer, 1, sizeof buffer, pipe)) {
    run.output.append(buffer, read);
  }
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The names listed under "Subcommands:" in CLI11's help text: lines indented by two spaces,
// up to the next blank line.
std::vector<std::string> Subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream lines(help);
  std::string line;
  bool listing = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("Subcommands:")) {
      listing = true;
      continue;
    }
    if (!listing) continue;
    if (line.empty() || !line.starts_with("  ") || line[2] == ' ') break;
    names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  return names;
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Whether a line of the command reference starts with `fhirbridge COMMAND`; a subcommand may
// share its line with its siblings ("fhirbridge keys generate|rotate|jwks").
bool InReference(const std::string& reference, const std::string& command) {
  const std::size_t space = command.find(' ');
  const std::string group = command.substr(0, space);
  const std::string leaf = space == std::string::npos ? "" : command.substr(space + 1);
  std::istringstream lines(reference);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string program, first, second;
    words >> program >> first >> second;
    if (program != "fhirbridge" || first != group) continue;
    if (leaf.empty()) return true;
    std::istringstream alternatives(second);
    for (std::string alternative; std::getline(alternatives, alternative, '|');) {
      if (alternative == leaf) return true;
    }
  }
  return false;
}

TEST(CliHelpTest, EveryCommandAnswersHelpAndIsInTheReadme) {
  const std::string readme = ReadText(std::filesystem::path(FHIRBRIDGE_SOURCE_DIR) / "README.md");
  ASSERT_FALSE(readme.empty());
  const std::string reference = readme.substr(readme.find("## Command reference"));

  std::set<std::string> leaves;
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    const std::string command = pending.back();
    pending.pop_back();
    SCOPED_TRACE("fhirbridge " + command + " --help");
    const CommandRun help = RunFhirbridge(command + " --help");
    EXPECT_EQ(help.exit_code, 0) << help.output;
    EXPECT_NE(help.output.find("Usage:"), std::string::npos) << help.output;
    EXPECT_NE(help.output.find("--help"), std::string::npos) << help.output;
    const std::vector<std::string> children = Subcommands(help.output);
    if (children.empty()) leaves.insert(command);
    for (const std::string& child : children) {
      pending.push_back(command.empty() ? child : command + " " + child);
    }
  }

  // The walk reached the commands the README documents, and the README names each one found.
  for (const char* expected : {"demo",
                               "sync",
                               "smoke",
                               "seed",
                               "synth",
                               "worker",
                               "fleet plan",
                               "sites check",
                               "sites show",
                               "sites capabilities",
                               "vault init-key",
                               "vault list",
                               "vault erase",
                               "auth token",
                               "auth login",
                               "keys generate",
                               "keys rotate",
                               "keys jwks",
                               "sandbox serve",
                               "sandbox check-config",
                               "sandbox register-app"}) {
    EXPECT_TRUE(leaves.contains(expected)) << expected;
  }
  for (const std::string& command : leaves) {
    EXPECT_TRUE(InReference(reference, command))
        << "the README's command reference does not name fhirbridge " << command;
  }
}

// The exit codes the README documents, one case per kind of mistake.
TEST(CliHelpTest, MistakesGiveTheDocumentedExitCodes) {
  const std::filesystem::path empty_folder =
      std::filesystem::temp_directory_path() / "fhirbridge-cli-help-test-empty";
  std::filesystem::create_directories(empty_folder);
  const std::string missing_bundle = (empty_folder / "missing.toml").string();
  const std::map<std::string, int> cases = {
      {"", 2},                                                   // no command
      {"no-such-command", 2},                                    // unknown command
      {"demo --no-such-option", 2},                              // unknown option
      {"demo --patients 0", 2},                                  // a value out of range
      {"sites show", 2},                                         // a required argument missing
      {"sync", 2},                                               // neither sites nor --fhir-base
      {"sync --fhir-base ftp://example.org --plan", 2},          // not an http(s) URL
      {"sites check --dir " + empty_folder.string(), 3},         // no bundle in the folder
      {"sites show nowhere --dir " + empty_folder.string(), 3},  // no such bundle
      {"sandbox check-config " + missing_bundle, 3},             // no such tenant file
      {"--version", 0},
  };
  for (const auto& [arguments, expected] : cases) {
    const CommandRun run = RunFhirbridge(arguments);
    EXPECT_EQ(run.exit_code, expected) << "fhirbridge " << arguments << "\n" << run.output;
  }
  std::filesystem::remove_all(empty_folder);
}

}  // namespace
}  // namespace fhirbridge
