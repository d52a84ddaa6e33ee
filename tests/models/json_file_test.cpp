#include "models/core/json_file.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace earshot::models {
namespace {

TEST(JsonGet, ChecksIntegerRangeAndWholeness) {
  const auto j = nlohmann::json::parse(
      R"({"ok": 8, "whole": 8.0, "half": 2.5, "huge": 1e300, "wrap": 4294967297,
          "neg": -1, "list": [1, 2, 1e300], "good_list": [2, 4], "text": "x"})");
  EXPECT_EQ(json_get<int>(j, "ok", "cfg"), 8);
  EXPECT_EQ(json_get<int>(j, "whole", "cfg"), 8);
  EXPECT_THROW(json_get<int>(j, "half", "cfg"), ConfigError);
  EXPECT_THROW(json_get<int>(j, "huge", "cfg"), ConfigError);
  EXPECT_THROW(json_get<int>(j, "wrap", "cfg"), ConfigError);
  EXPECT_EQ(json_get<std::int64_t>(j, "wrap", "cfg"), 4294967297LL);
  EXPECT_THROW(json_get<unsigned>(j, "neg", "cfg"), ConfigError);
  EXPECT_THROW(json_get<std::vector<int>>(j, "list", "cfg"), ConfigError);
  EXPECT_EQ(json_get<std::vector<int>>(j, "good_list", "cfg"), (std::vector<int>{2, 4}));
  EXPECT_THROW(json_get<float>(j, "huge", "cfg"), ConfigError);
  EXPECT_EQ(json_get<double>(j, "huge", "cfg"), 1e300);
  EXPECT_THROW(json_get<int>(j, "text", "cfg"), ConfigError);
  EXPECT_THROW(json_get<int>(j, "missing", "cfg"), ConfigError);
  EXPECT_EQ(json_get_or<int>(j, "missing", 3, "cfg"), 3);
}

}  // namespace
}  // namespace earshot::models
