// earshot: neural audio models on live audio, in real time, inside a fixed memory budget.
#include "apps/command.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>

namespace earshot::app {

std::vector<Command>& command_registry() {
  static std::vector<Command> commands;
  return commands;
}

}  // namespace earshot::app

int main(int argc, char** argv) {
  using namespace earshot::app;
  CLI::App app{
      "earshot runs neural audio models (Whisper, HTDemucs, EnCodec) on live audio in real time,\n"
      "inside a fixed memory budget. Run `earshot <command> --help` for a command's options.",
      "earshot"};
  app.set_version_flag("--version", "earshot 0.1.0");
  app.require_subcommand(1);

  auto& commands = command_registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  std::map<CLI::App*, RunFn> actions;
  for (auto& command : commands) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    actions[sub] = command.setup(*sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : actions) {
    if (sub->parsed()) {
      try {
        return run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "earshot %s: error: %s\n", sub->get_name().c_str(), e.what());
        return 1;
      }
    }
  }
  return 1;
}
