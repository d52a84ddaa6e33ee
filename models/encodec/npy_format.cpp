#include "models/encodec/npy_format.hpp"

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace earshot::encodec {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

void put_le(std::vector<std::byte>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(std::span<const std::byte> b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(b[at + i]) << (8 * i);
  return v;
}

std::vector<std::byte> npy_encode(const char* descr, const void* data, std::size_t bytes,
                                  const std::vector<std::int64_t>& shape) {
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    header += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) header += ", ";
  }
  header += "), }";
  // Total of magic (6) + version (2) + length (2) + header is a multiple of 64, ending in '\n'.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<std::byte> out;
  out.reserve(10 + header.size() + bytes);
  for (int i = 0; i < 6; ++i) out.push_back(static_cast<std::byte>(kMagic[i]));
  out.push_back(std::byte{1});
  out.push_back(std::byte{0});
  put_le(out, header.size(), 2);
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  const auto* p = static_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + bytes);
  return out;
}

std::int64_t checked_numel(const std::vector<std::int64_t>& shape, const std::string& label) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0 || (d > 0 && n > std::numeric_limits<std::int64_t>::max() / 8 / d)) {
      throw CodeFileError(label + ": implausible array shape");
    }
    n *= d;
  }
  return n;
}

// Value of `key` in the header dict, as raw text up to the next top-level ',' or '}'.
std::string dict_value(const std::string& header, const std::string& key,
                       const std::string& label) {
  const auto pos = header.find("'" + key + "'");
  if (pos == std::string::npos) throw CodeFileError(label + ": .npy header has no '" + key + "'");
  auto colon = header.find(':', pos);
  if (colon == std::string::npos) throw CodeFileError(label + ": malformed .npy header");
  std::size_t i = colon + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  if (i < header.size() && header[i] == '(') {
    const auto close = header.find(')', i);
    if (close == std::string::npos) throw CodeFileError(label + ": malformed .npy shape");
    return header.substr(i, close - i + 1);
  }
  auto end = header.find_first_of(",}", i);
  if (end == std::string::npos) throw CodeFileError(label + ": malformed .npy header");
  return header.substr(i, end - i);
}

struct DType {
  char kind;  // 'i', 'u', 'f'
  int size;
};

DType parse_descr(const std::string& descr, const std::string& label) {
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '=')) {
    throw CodeFileError(label + ": unsupported dtype '" + descr + "' (need little-endian)");
  }
  const DType d{descr[1], descr[2] - '0'};
  const bool ok = ((d.kind == 'i' || d.kind == 'u') &&
                   (d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8)) ||
                  (d.kind == 'f' && (d.size == 4 || d.size == 8));
  if (!ok) throw CodeFileError(label + ": unsupported dtype '" + descr + "'");
  if (d.size > 1 && descr[0] == '|') throw CodeFileError(label + ": bad dtype '" + descr + "'");
  return d;
}

std::uint32_t crc32(std::span<const std::byte> data) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (auto b : data) crc = table[(crc ^ static_cast<std::uint8_t>(b)) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

}  // namespace

std::int64_t NpyArray::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<std::byte> npy_encode_i32(std::span<const std::int32_t> values,
                                      const std::vector<std::int64_t>& shape) {
  return npy_encode("<i4", values.data(), values.size_bytes(), shape);
}
std::vector<std::byte> npy_encode_f32(std::span<const float> values,
                                      const std::vector<std::int64_t>& shape) {
  return npy_encode("<f4", values.data(), values.size_bytes(), shape);
}
std::vector<std::byte> npy_encode_i64(std::span<const std::int64_t> values,
                                      const std::vector<std::int64_t>& shape) {
  return npy_encode("<i8", values.data(), values.size_bytes(), shape);
}

NpyArray npy_decode(std::span<const std::byte> bytes, const std::string& label) {
  if (bytes.size() < 6 || std::memcmp(bytes.data(), kMagic, 6) != 0) {
    throw CodeFileError(label + ": not a .npy file (bad magic)");
  }
  if (bytes.size() < 10) throw CodeFileError(label + ": truncated .npy header");
  const int major = static_cast<int>(bytes[6]);
  const int len_bytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
  if (len_bytes == 0)
    throw CodeFileError(label + ": unsupported .npy version " + std::to_string(major));
  if (bytes.size() < static_cast<std::size_t>(8 + len_bytes))
    throw CodeFileError(label + ": truncated .npy header");
  const std::uint64_t header_len = get_le(bytes, 8, len_bytes);
  const std::size_t data_start = 8 + len_bytes;
  if (header_len > bytes.size() - data_start)
    throw CodeFileError(label + ": truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(bytes.data()) + data_start, header_len);

  NpyArray array;
  std::string descr = dict_value(header, "descr", label);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"')) {
    throw CodeFileError(label + ": malformed .npy descr");
  }
  array.descr = descr.substr(1, descr.size() - 2);
  const DType dtype = parse_descr(array.descr, label);
  if (dict_value(header, "fortran_order", label).find("False") == std::string::npos) {
    throw CodeFileError(label + ": Fortran-ordered arrays are not supported (save C order)");
  }
  const std::string shape = dict_value(header, "shape", label);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') {
    throw CodeFileError(label + ": malformed .npy shape '" + shape + "'");
  }
  std::string digits;
  for (char c : shape.substr(1, shape.size() - 2) + ",") {
    if (c == ',') {
      if (!digits.empty()) {
        if (digits.size() > 15) throw CodeFileError(label + ": implausible .npy shape");
        array.shape.push_back(std::stoll(digits));
      }
      digits.clear();
    } else if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != ' ' && c != 'L') {
      throw CodeFileError(label + ": malformed .npy shape '" + shape + "'");
    }
  }
  const std::int64_t numel = checked_numel(array.shape, label);
  const std::uint64_t need = static_cast<std::uint64_t>(numel) * dtype.size;
  const std::size_t avail = bytes.size() - data_start - header_len;
  if (avail < need) {
    throw CodeFileError(label + ": truncated .npy data (" + std::to_string(avail) + " of " +
                        std::to_string(need) + " bytes)");
  }
  const auto* begin = bytes.data() + data_start + header_len;
  array.data.assign(begin, begin + need);
  return array;
}

std::vector<std::int64_t> npy_to_i64(const NpyArray& array, const std::string& label) {
  const DType d = parse_descr(array.descr, label);
  if (d.kind == 'f') throw CodeFileError(label + ": expected integer codes, found " + array.descr);
  std::vector<std::int64_t> out(static_cast<std::size_t>(array.numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint64_t raw = get_le(array.data, i * d.size, d.size);
    if (d.kind == 'u') {
      if (raw > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw CodeFileError(label + ": value out of range");
      }
      out[i] = static_cast<std::int64_t>(raw);
    } else {
      const int shift = 64 - 8 * d.size;  // sign-extend
      out[i] = static_cast<std::int64_t>(raw << shift) >> shift;
    }
  }
  return out;
}

std::vector<std::int32_t> npy_to_i32(const NpyArray& array, const std::string& label) {
  const auto wide = npy_to_i64(array, label);
  std::vector<std::int32_t> out(wide.size());
  for (std::size_t i = 0; i < wide.size(); ++i) {
    if (wide[i] < std::numeric_limits<std::int32_t>::min() ||
        wide[i] > std::numeric_limits<std::int32_t>::max()) {
      throw CodeFileError(label + ": value " + std::to_string(wide[i]) + " does not fit int32");
    }
    out[i] = static_cast<std::int32_t>(wide[i]);
  }
  return out;
}

std::vector<float> npy_to_f32(const NpyArray& array, const std::string& label) {
  const DType d = parse_descr(array.descr, label);
  if (d.kind != 'f') throw CodeFileError(label + ": expected floats, found " + array.descr);
  std::vector<float> out(static_cast<std::size_t>(array.numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (d.size == 4) {
      std::uint32_t raw = static_cast<std::uint32_t>(get_le(array.data, i * 4, 4));
      std::memcpy(&out[i], &raw, 4);
    } else {
      std::uint64_t raw = get_le(array.data, i * 8, 8);
      double v;
      std::memcpy(&v, &raw, 8);
      out[i] = static_cast<float>(v);
    }
  }
  return out;
}

std::vector<std::byte> zip_store(
    const std::vector<std::pair<std::string, std::vector<std::byte>>>& entries) {
  std::vector<std::byte> out;
  std::vector<std::byte> central;
  for (const auto& [name, data] : entries) {
    if (data.size() >= 0xFFFFFFFFu) throw CodeFileError("zip entry too large: " + name);
    const std::uint32_t crc = crc32(data);
    const std::uint64_t offset = out.size();
    // Local file header: stored, no data descriptor.
    put_le(out, 0x04034b50, 4);
    put_le(out, 20, 2);    // version needed
    put_le(out, 0, 2);     // flags
    put_le(out, 0, 2);     // method: stored
    put_le(out, 0, 2);     // time
    put_le(out, 0x21, 2);  // date (1980-01-01)
    put_le(out, crc, 4);
    put_le(out, data.size(), 4);
    put_le(out, data.size(), 4);
    put_le(out, name.size(), 2);
    put_le(out, 0, 2);
    for (char c : name) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    // Central directory record.
    put_le(central, 0x02014b50, 4);
    put_le(central, 20, 2);
    put_le(central, 20, 2);
    put_le(central, 0, 2);
    put_le(central, 0, 2);
    put_le(central, 0, 2);
    put_le(central, 0x21, 2);
    put_le(central, crc, 4);
    put_le(central, data.size(), 4);
    put_le(central, data.size(), 4);
    put_le(central, name.size(), 2);
    put_le(central, 0, 2);  // extra
    put_le(central, 0, 2);  // comment
    put_le(central, 0, 2);  // disk
    put_le(central, 0, 2);  // internal attributes
    put_le(central, 0, 4);  // external attributes
    put_le(central, offset, 4);
    for (char c : name) central.push_back(static_cast<std::byte>(c));
  }
  const std::uint64_t central_offset = out.size();
  out.insert(out.end(), central.begin(), central.end());
  put_le(out, 0x06054b50, 4);
  put_le(out, 0, 2);
  put_le(out, 0, 2);
  put_le(out, entries.size(), 2);
  put_le(out, entries.size(), 2);
  put_le(out, central.size(), 4);
  put_le(out, central_offset, 4);
  put_le(out, 0, 2);
  return out;
}

std::map<std::string, std::vector<std::byte>> zip_read_stored(std::span<const std::byte> b,
                                                              const std::string& label) {
  auto fail = [&](const std::string& what) -> CodeFileError {
    return CodeFileError(label + ": " + what);
  };
  if (b.size() < 22) throw fail("not a zip/.npz archive (too short)");
  // End of central directory: the last record with its signature (comment up to 64 KiB).
  std::size_t eocd = std::string::npos;
  for (std::size_t i = b.size() - 22 + 1; i-- > 0 && b.size() - i <= 22 + 65535;) {
    if (get_le(b, i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) throw fail("not a zip/.npz archive (no end record)");
  std::uint64_t count = get_le(b, eocd + 10, 2);
  std::uint64_t cd_size = get_le(b, eocd + 12, 4);
  std::uint64_t cd_offset = get_le(b, eocd + 16, 4);
  if (cd_offset == 0xFFFFFFFFu || count == 0xFFFF) {
    // Zip64 end record, located by the zip64 locator just before the end record.
    if (eocd < 20 || get_le(b, eocd - 20, 4) != 0x07064b50) throw fail("bad zip64 locator");
    const std::uint64_t z64 = get_le(b, eocd - 20 + 8, 8);
    if (z64 > b.size() - 56 || get_le(b, z64, 4) != 0x06064b50) throw fail("bad zip64 end record");
    count = get_le(b, z64 + 32, 8);
    cd_size = get_le(b, z64 + 40, 8);
    cd_offset = get_le(b, z64 + 48, 8);
  }
  if (cd_offset > b.size() || cd_size > b.size() - cd_offset)
    throw fail("central directory out of bounds");
  std::map<std::string, std::vector<std::byte>> entries;
  std::uint64_t at = cd_offset;
  for (std::uint64_t e = 0; e < count; ++e) {
    if (at + 46 > cd_offset + cd_size || get_le(b, at, 4) != 0x02014b50) {
      throw fail("corrupt central directory");
    }
    const std::uint64_t method = get_le(b, at + 10, 2);
    const std::uint32_t crc = static_cast<std::uint32_t>(get_le(b, at + 16, 4));
    std::uint64_t comp_size = get_le(b, at + 20, 4);
    std::uint64_t size = get_le(b, at + 24, 4);
    const std::uint64_t name_len = get_le(b, at + 28, 2);
    const std::uint64_t extra_len = get_le(b, at + 30, 2);
    const std::uint64_t comment_len = get_le(b, at + 32, 2);
    std::uint64_t local = get_le(b, at + 42, 4);
    if (at + 46 + name_len + extra_len + comment_len > cd_offset + cd_size) {
      throw fail("corrupt central directory entry");
    }
    const std::string name(reinterpret_cast<const char*>(b.data()) + at + 46, name_len);
    // Zip64 extra field: the 64-bit values for whichever 32-bit fields are saturated.
    std::uint64_t x = at + 46 + name_len;
    const std::uint64_t x_end = x + extra_len;
    while (x + 4 <= x_end) {
      const std::uint64_t id = get_le(b, x, 2);
      const std::uint64_t len = get_le(b, x + 2, 2);
      if (x + 4 + len > x_end) throw fail("corrupt zip extra field in " + name);
      if (id == 0x0001) {
        std::uint64_t p = x + 4;
        auto take = [&](std::uint64_t& field) {
          if (field == 0xFFFFFFFFu) {
            if (p + 8 > x + 4 + len) throw fail("short zip64 field in " + name);
            field = get_le(b, p, 8);
            p += 8;
          }
        };
        take(size);
        take(comp_size);
        take(local);
      }
      x += 4 + len;
    }
    if (method != 0) {
      throw fail("entry '" + name + "' is compressed (method " + std::to_string(method) +
                 "); only stored archives are read (np.savez, not np.savez_compressed)");
    }
    if (comp_size != size) throw fail("stored entry '" + name + "' has inconsistent sizes");
    if (local > b.size() - 30 || get_le(b, local, 4) != 0x04034b50) {
      throw fail("bad local header for '" + name + "'");
    }
    const std::uint64_t data_at = local + 30 + get_le(b, local + 26, 2) + get_le(b, local + 28, 2);
    if (data_at > b.size() || size > b.size() - data_at)
      throw fail("entry '" + name + "' is truncated");
    const auto data = b.subspan(data_at, size);
    if (crc32(data) != crc) throw fail("entry '" + name + "' fails its CRC-32 check");
    entries[name] = std::vector<std::byte>(data.begin(), data.end());
    at += 46 + name_len + extra_len + comment_len;
  }
  return entries;
}

std::vector<std::byte> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CodeFileError(path + ": cannot open for reading");
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

void write_file_bytes(const std::string& path, std::span<const std::byte> bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw CodeFileError(path + ": cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw CodeFileError(path + ": write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw CodeFileError(path + ": cannot move into place: " + ec.message());
  }
}

}  // namespace earshot::encodec
