// Reading config.json-style files with errors that name the file and the key.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace earshot::models {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a JSON file; throws ConfigError if it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Typed access with a clear error for a missing key or a value of the wrong type.
template <typename T>
T json_get(const nlohmann::json& object, const std::string& key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw ConfigError(where + ": missing key '" + key + "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(where + ": key '" + key + "' has the wrong type");
  }
}

template <typename T>
T json_get_or(const nlohmann::json& object, const std::string& key, T fallback,
              const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return json_get<T>(object, key, where);
}

}  // namespace earshot::models
