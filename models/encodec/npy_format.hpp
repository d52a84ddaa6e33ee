// The NumPy .npy format and stored (uncompressed) .npz archives, written and read here so that
// codes move to and from Python without a NumPy dependency.
//
// .npy: "\x93NUMPY", version (1.0: 2-byte header length; 2.0/3.0: 4-byte), a Python-literal
// dict {'descr': '<i4', 'fortran_order': False, 'shape': (a, b), } padded with spaces to a
// multiple of 64 bytes and ending in '\n', then the raw little-endian C-order data.
// .npz: a zip archive of <name>.npy entries (np.savez stores them uncompressed, with zip64
// extra fields); compressed (deflate) archives from np.savez_compressed are refused clearly.
// Every length, offset and size is checked against the data, so a truncated or corrupt file is a
// CodeFileError naming the file and the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::encodec {

class CodeFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NpyArray {
  std::string descr;  // e.g. "<i4", "<f4", "<i8"
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;  // raw little-endian, C order
  std::int64_t numel() const;
};

std::vector<std::byte> npy_encode_i32(std::span<const std::int32_t> values,
                                      const std::vector<std::int64_t>& shape);
std::vector<std::byte> npy_encode_f32(std::span<const float> values,
                                      const std::vector<std::int64_t>& shape);
std::vector<std::byte> npy_encode_i64(std::span<const std::int64_t> values,
                                      const std::vector<std::int64_t>& shape);

NpyArray npy_decode(std::span<const std::byte> bytes, const std::string& label);
// Integer arrays (i1/i2/i4/i8/u1/u2/u4/u8, little-endian) to int32, range-checked.
std::vector<std::int32_t> npy_to_i32(const NpyArray& array, const std::string& label);
// Integer arrays to int64.
std::vector<std::int64_t> npy_to_i64(const NpyArray& array, const std::string& label);
// f4/f8 to float.
std::vector<float> npy_to_f32(const NpyArray& array, const std::string& label);

// A zip archive of stored entries (CRC-32 included).
std::vector<std::byte> zip_store(
    const std::vector<std::pair<std::string, std::vector<std::byte>>>& entries);
// Entries of a zip archive whose members are stored (method 0); zip64 sizes understood.
std::map<std::string, std::vector<std::byte>> zip_read_stored(std::span<const std::byte> bytes,
                                                              const std::string& label);

std::vector<std::byte> read_file_bytes(const std::string& path);
// Writes via a temporary file renamed into place, so readers never see half a file.
void write_file_bytes(const std::string& path, std::span<const std::byte> bytes);

}  // namespace earshot::encodec
