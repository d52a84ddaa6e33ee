#include "models/core/json_file.hpp"

#include <fstream>
#include <sstream>

namespace earshot::models {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot open '" + path.string() + "'");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json root = nlohmann::json::parse(text.str(), nullptr, false);
  if (root.is_discarded()) throw ConfigError("'" + path.string() + "' is not valid JSON");
  return root;
}

}  // namespace earshot::models
