// Reading config.json-style files with errors that name the file and the key.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace earshot::models {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a JSON file; throws ConfigError if it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& path);

namespace detail {

template <typename T>
struct is_std_vector : std::false_type {};
template <typename U, typename A>
struct is_std_vector<std::vector<U, A>> : std::true_type {};

// nlohmann's get<T>() converts numbers with an unchecked cast: 1e300 into an int is undefined
// behaviour and 4294967297 silently becomes 1. So every number bound for an arithmetic T (also
// inside arrays) is checked first: integers must be whole and in range, floats finite-range.
template <typename T>
bool json_number_fits(const nlohmann::json& value) {
  if constexpr (is_std_vector<T>::value) {
    if (!value.is_array()) return true;  // get<T>() reports the type error
    for (const auto& element : value)
      if (!json_number_fits<typename T::value_type>(element)) return false;
    return true;
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (value.is_number_float()) {
      const double v = value.get<double>();
      const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);
      const double low = std::is_signed_v<T> ? -limit : 0.0;
      return v == std::floor(v) && v >= low && v < limit;
    }
    if (value.is_number_unsigned()) return std::in_range<T>(value.get<std::uint64_t>());
    if (value.is_number_integer()) return std::in_range<T>(value.get<std::int64_t>());
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!value.is_number()) return true;
    const double v = value.get<double>();
    return !std::isfinite(v) || std::fabs(v) <= static_cast<double>(std::numeric_limits<T>::max());
  } else {
    return true;
  }
}

}  // namespace detail

// Typed access with a clear error for a missing key, a value of the wrong type, or a number out
// of the type's range.
template <typename T>
T json_get(const nlohmann::json& object, const std::string& key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw ConfigError(where + ": missing key '" + key + "'");
  if (!detail::json_number_fits<T>(*it))
    throw ConfigError(where + ": key '" + key +
                      "' is not a number in range (or not a whole number)");
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
