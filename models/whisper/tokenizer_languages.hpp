// Whisper's language codes and their English names, in the order of the language tokens
// (<|en|> = sot + 1, ...; 99 languages for v1/v2, 100 with <|yue|> for large-v3).
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace earshot::models::whisper {

struct WhisperLanguage {
  std::string_view code;  // "en"
  std::string_view name;  // "english"
};

// All 100 languages Whisper knows, in token order.
std::span<const WhisperLanguage> whisper_languages();

// The code of a language given by code ("de") or by English name, any case ("German"),
// including the reference's aliases ("castilian" -> "es", "mandarin" -> "zh"); nullopt if
// unknown.
std::optional<std::string_view> language_code_from_name_or_code(std::string_view language);

// English name of a code, or nullopt.
std::optional<std::string_view> language_name(std::string_view code);

}  // namespace earshot::models::whisper
