// Reads a safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the data. Tensors come back widened to the type asked for.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "golden/json.h"

namespace bert::test {

class Safetensors {
 public:
  explicit Safetensors(const std::string& path) : path_(path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(path + ": cannot open");
    uint64_t n = 0;
    f.read(reinterpret_cast<char*>(&n), 8);
    std::string header(n, '\0');
    f.read(header.data(), static_cast<std::streamsize>(n));
    header_ = Json::parse(header);
    data_.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }

  bool has(const std::string& name) const { return header_.has(name); }
  std::string metadata(const std::string& key) const {
    if (!header_.has("__metadata__") || !header_.at("__metadata__").has(key)) return "";
    return header_.at("__metadata__").at(key).string;
  }
  std::vector<int64_t> shape(const std::string& name) const {
    std::vector<int64_t> s;
    for (const Json& d : header_.at(name).at("shape").array) s.push_back(static_cast<int64_t>(d.number));
    return s;
  }
  // Names of the tensors that start with `prefix`, the prefix removed.
  std::vector<std::string> names(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : header_.object)
      if (k.compare(0, prefix.size(), prefix) == 0) out.push_back(k.substr(prefix.size()));
    return out;
  }
  template <typename T>
  std::vector<T> get(const std::string& name) const {
    const Json& t = header_.at(name);
    const std::string dtype = t.at("dtype").string;
    const size_t begin = static_cast<size_t>(t.at("data_offsets").array[0].number);
    const size_t end = static_cast<size_t>(t.at("data_offsets").array[1].number);
    const char* p = data_.data() + begin;
    if (dtype == "F32") return widen<float, T>(p, (end - begin) / 4);
    if (dtype == "F64") return widen<double, T>(p, (end - begin) / 8);
    if (dtype == "I32") return widen<int32_t, T>(p, (end - begin) / 4);
    if (dtype == "I64") return widen<int64_t, T>(p, (end - begin) / 8);
    throw std::runtime_error(path_ + ": " + name + " has dtype " + dtype);
  }

 private:
  template <typename From, typename To>
  static std::vector<To> widen(const char* p, size_t n) {
    std::vector<To> out(n);
    for (size_t i = 0; i < n; i++) {
      From v;
      std::memcpy(&v, p + i * sizeof(From), sizeof(From));
      out[i] = static_cast<To>(v);
    }
    return out;
  }

  std::string path_;
  Json header_;
  std::vector<char> data_;
};

}  // namespace bert::test
