// parse_command_line: CLI11 parsing for the programs, with a bad option ending in one line and exit status 2 (needs CLI11; not in nas.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace nas {

/// Parses the command line into `app`. Returns the status the program should end with
/// now (0 after --help, 2 after a bad option, printed as "<program>: <CLI11's message>"
/// on one line), or nothing when the program goes on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string name = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "program";
    std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), e.what());
    return 2;
  }
}

}  // namespace nas
