// Subcommand registry for the `earshot` command.
//
// Each subcommand lives in apps/cmd_<name>.cpp and registers itself with a static
// `RegisterCommand`, so adding a subcommand never edits another's file. A subcommand adds its
// options to the CLI11 subcommand in `setup` and does its work in the returned callback.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace earshot::app {

// What a subcommand does once its options are parsed; returns the process exit status.
using RunFn = std::function<int()>;

struct Command {
  std::string name;
  std::string description;
  // Adds options to `sub` (bound to state captured by the returned RunFn) and returns the action.
  std::function<RunFn(CLI::App& sub)> setup;
};

std::vector<Command>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(Command command) { command_registry().push_back(std::move(command)); }
};

}  // namespace earshot::app
