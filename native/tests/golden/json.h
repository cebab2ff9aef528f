// A small JSON reader for the golden files' safetensors headers and metadata: objects, arrays, strings (with
// escapes), numbers, true/false/null. Enough for files we write ourselves; not a general-purpose parser.
#pragma once
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace bert::test {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json& at(const std::string& key) const {
    auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error("JSON: no key \"" + key + "\"");
    return it->second;
  }
  bool has(const std::string& key) const { return object.count(key) > 0; }
  static Json parse(const std::string& text);
};

namespace json_detail {

class Parser {
 public:
  explicit Parser(const std::string& t) : t_(t) {}
  Json value() {
    space();
    if (i_ >= t_.size()) fail("unexpected end");
    const char c = t_[i_];
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') {
      Json j;
      j.kind = Json::Kind::kString;
      j.string = string();
      return j;
    }
    if (t_.compare(i_, 4, "true") == 0 || t_.compare(i_, 5, "false") == 0) {
      Json j;
      j.kind = Json::Kind::kBool;
      j.boolean = t_[i_] == 't';
      i_ += j.boolean ? 4 : 5;
      return j;
    }
    if (t_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      return Json{};
    }
    return number();
  }
  void end() {
    space();
    if (i_ != t_.size()) fail("trailing characters");
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("JSON: ") + what + " at offset " + std::to_string(i_));
  }
  void space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r')) i_++;
  }
  void expect(char c) {
    space();
    if (i_ >= t_.size() || t_[i_] != c) fail("unexpected character");
    i_++;
  }
  Json object() {
    Json j;
    j.kind = Json::Kind::kObject;
    expect('{');
    space();
    if (t_[i_] == '}') return i_++, j;
    for (;;) {
      space();
      std::string key = string();
      expect(':');
      j.object[key] = value();
      space();
      if (t_[i_] == '}') return i_++, j;
      expect(',');
    }
  }
  Json array() {
    Json j;
    j.kind = Json::Kind::kArray;
    expect('[');
    space();
    if (t_[i_] == ']') return i_++, j;
    for (;;) {
      j.array.push_back(value());
      space();
      if (t_[i_] == ']') return i_++, j;
      expect(',');
    }
  }
  std::string string() {
    expect('"');
    std::string s;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (c != '\\') {
        s += c;
        continue;
      }
      const char e = t_[i_++];
      if (e == 'n')
        s += '\n';
      else if (e == 't')
        s += '\t';
      else if (e == 'r')
        s += '\r';
      else if (e == 'b')
        s += '\b';
      else if (e == 'f')
        s += '\f';
      else if (e == 'u') {
        const unsigned code = std::stoul(t_.substr(i_, 4), nullptr, 16);
        i_ += 4;
        if (code < 0x80)
          s += static_cast<char>(code);
        else
          fail("non-ASCII \\u escape");
      } else
        s += e;  // \" \\ \/
    }
    expect('"');
    return s;
  }
  Json number() {
    const char* start = t_.c_str() + i_;
    char* end = nullptr;
    Json j;
    j.kind = Json::Kind::kNumber;
    j.number = std::strtod(start, &end);
    if (end == start) fail("not a value");
    i_ += end - start;
    return j;
  }

  const std::string& t_;
  size_t i_ = 0;
};

}  // namespace json_detail

inline Json Json::parse(const std::string& text) {
  json_detail::Parser p(text);
  Json j = p.value();
  p.end();
  return j;
}

}  // namespace bert::test
