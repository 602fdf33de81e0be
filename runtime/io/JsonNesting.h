// JsonNesting.h - the nesting depth of JSON text, found without recursion.
//
// Header-only and free of dependencies, so that the compiler's importer (which
// parses with llvm::json, a recursive parser) and the runtime's readers (which
// use nlohmann-json, whose dump() and comparisons recurse) bound the depth of
// untrusted JSON the same way, before any recursive code sees it.
#ifndef EERT_IO_JSONNESTING_H
#define EERT_IO_JSONNESTING_H

#include <cstddef>
#include <string_view>

namespace eert {

/// The deepest JSON nesting any of our inputs needs is a handful of levels;
/// 64 leaves room for any config a user writes and none for a stack overflow.
constexpr size_t kMaxJsonDepth = 64;

/// The first byte offset at which `text` nests arrays and objects deeper than
/// `maxDepth`, or std::string_view::npos if it never does. Brackets inside
/// strings (with their escapes) do not count; the text need not be valid JSON.
inline size_t jsonNestingViolation(std::string_view text, size_t maxDepth = kMaxJsonDepth) {
  size_t depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > maxDepth)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

} // namespace eert

#endif // EERT_IO_JSONNESTING_H
