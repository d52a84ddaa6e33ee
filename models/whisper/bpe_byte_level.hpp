// GPT-2's byte-level alphabet: every byte 0..255 is shown as one printable Unicode character
// so that vocab.json / merges.txt can be text files ("Ġ" is the space byte 0x20, "Ċ" is \n).
// Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to
// U+0100, U+0101, ...
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace earshot::models::whisper::bpe {

// The character that stands for byte b.
char32_t byte_to_char(unsigned char b);

// Inverse of byte_to_char; nullopt for characters outside the alphabet.
std::optional<unsigned char> char_to_byte(char32_t c);

// Raw bytes -> their byte-level spelling (UTF-8).
std::string bytes_to_byte_level(std::string_view bytes);

// Byte-level spelling (UTF-8) -> raw bytes; nullopt if the text is not valid UTF-8 or holds
// a character outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace earshot::models::whisper::bpe
