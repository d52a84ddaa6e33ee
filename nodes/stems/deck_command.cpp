#include "nodes/stems/deck_command.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace earshot::stems {

DeckCommand parse_deck_command(const std::string& line, const std::vector<std::string>& sources) {
  std::istringstream in(line);
  std::string verb, name, extra;
  in >> verb;
  DeckCommand cmd;
  if (verb == "reset") {
    cmd.op = DeckCommand::Op::Reset;
    if (in >> extra) throw std::invalid_argument("`reset` takes no arguments");
    return cmd;
  }
  if (verb == "gain")
    cmd.op = DeckCommand::Op::Gain;
  else if (verb == "mute")
    cmd.op = DeckCommand::Op::Mute;
  else if (verb == "unmute")
    cmd.op = DeckCommand::Op::Unmute;
  else if (verb == "solo")
    cmd.op = DeckCommand::Op::Solo;
  else if (verb == "unsolo")
    cmd.op = DeckCommand::Op::Unsolo;
  else
    throw std::invalid_argument("unknown command '" + verb +
                                "' (gain SOURCE DB, mute/unmute/solo/unsolo SOURCE, reset)");
  if (!(in >> name)) throw std::invalid_argument("`" + verb + "` needs a source name or `all`");
  if (name != "all") {
    const auto it = std::find(sources.begin(), sources.end(), name);
    if (it == sources.end()) {
      std::string known;
      for (const auto& s : sources) known += " " + s;
      throw std::invalid_argument("unknown source '" + name + "' (sources:" + known + ", all)");
    }
    cmd.source = static_cast<int>(it - sources.begin());
  }
  if (cmd.op == DeckCommand::Op::Gain) {
    std::string value;
    if (!(in >> value))
      throw std::invalid_argument("`gain` needs a value in dB, e.g. gain vocals -6");
    double db = 0;
    try {
      std::size_t used = 0;
      db = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (const std::exception&) {
      throw std::invalid_argument("gain '" + value + "' is not a number of dB");
    }
    if (std::isnan(db) || db > 12.0)
      throw std::invalid_argument("gain must be a number of dB up to +12 (-inf mutes)");
    cmd.gain_db = static_cast<float>(db);
  }
  if (in >> extra) throw std::invalid_argument("unexpected '" + extra + "' after the command");
  return cmd;
}

}  // namespace earshot::stems
