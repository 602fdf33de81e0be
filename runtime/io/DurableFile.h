// DurableFile.h - writes that survive a crash or power loss: fsync of files and directories, atomic replacement.
#ifndef EERT_IO_DURABLEFILE_H
#define EERT_IO_DURABLEFILE_H

#include <string>
#include <string_view>

namespace eert {

/// Flushes the file or directory `path` to disk (fsync). For a directory this
/// makes the entries created, renamed or removed in it durable. Throws
/// std::runtime_error naming the path.
void syncPath(const std::string &path);

/// Replaces `path` with `text` so that a crash leaves either the old or the
/// new content: a temporary file beside it, written and fsynced, renamed over
/// `path`, then the directory fsynced.
void writeFileDurably(const std::string &path, std::string_view text);

/// Renames `from` to `to` and fsyncs the directory of `to` (and of `from`
/// when it differs). When `to` is an existing directory the two are swapped
/// atomically (renameat2 RENAME_EXCHANGE), so that `to` never stops existing;
/// the old content is then at `from`. Throws naming both paths.
void renameDurably(const std::string &from, const std::string &to);

} // namespace eert

#endif // EERT_IO_DURABLEFILE_H
