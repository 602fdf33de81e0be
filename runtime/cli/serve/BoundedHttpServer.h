// BoundedHttpServer.h - a cpp-httplib server whose connections have deadlines, size caps and a clean stop.
//
// cpp-httplib 0.11 (Debian) bounds each recv, not a request: a client sending
// one byte per second holds a worker thread forever, eight of them take the
// whole pool, a chunked body is buffered whole and stop() waits for every
// connection. This server keeps httplib's request parsing and routing
// (Server::process_request, protected for subclasses as httplib's SSLServer
// uses it) but owns the connections: one thread each up to a cap (past it a
// 503 at once), a deadline for reading each request's line, headers and body,
// byte budgets for the headers and the body, an idle limit on keep-alive, and
// a stop that ends every connection not writing a response and joins them all.
#ifndef EERT_CLI_BOUNDEDHTTPSERVER_H
#define EERT_CLI_BOUNDEDHTTPSERVER_H

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <thread>
#include <vector>

namespace eert {

struct HttpLimits {
  /// Reading one request (request line, headers and body) must end within this.
  std::chrono::milliseconds requestTimeout{30000};
  /// A keep-alive connection waits this long for its next request.
  std::chrono::milliseconds idleTimeout{5000};
  /// Writing one response must end within this.
  std::chrono::milliseconds writeTimeout{30000};
  size_t maxConnections = 64;
  size_t maxHeaderBytes = 64 << 10; // request line and headers
  size_t maxBodyBytes = 1 << 20;    // the body as the handler gets it (de-chunked, decompressed)
  size_t maxRequestsPerConnection = 1000;
};

/// Why a request body was not read whole.
enum class BodyStatus { Complete, TooLarge, TimedOut, Stopping, Unsupported, Malformed };

class BoundedHttpServer : public httplib::Server {
public:
  explicit BoundedHttpServer(HttpLimits limits);
  ~BoundedHttpServer() override;

  /// Listens on host:port (port 0: any free port) and returns the port; throws.
  int listenOn(const std::string &host, int port);
  /// Accepts connections on a thread of its own until stop().
  void start();
  /// Stops accepting, ends every connection waiting for or reading a request
  /// (one being read gets a 503), lets responses being written finish (each
  /// within writeTimeout) and joins every thread. Handlers must not block past it.
  void stop();
  bool stopping() const { return stopping_; }
  const HttpLimits &limits() const { return limits_; }

  /// Serves one connected socket on the calling thread until the client
  /// closes it, a limit ends it or the server stops; then closes it. The
  /// accept loop runs it on a thread per connection; the serve-http fuzz
  /// target calls it on a socketpair.
  void serveSocket(int fd);

  /// After the real routes: known paths answer other methods with 405 (and
  /// Allow), any other path 404 without reading its body (httplib would
  /// buffer it whole), and every error httplib answers itself gets the JSON
  /// error body. `endpoints`: (path, method) pairs.
  void finishRoutes(const std::vector<std::pair<std::string, std::string>> &endpoints);

  /// Sets `res` to `status` with the JSON body {"error": {"message", "type"}}.
  static void replyError(httplib::Response &res, int status, const std::string &message);

  /// readBody, answering every outcome but Complete (413, 408, 503, 415, 400);
  /// true when `body` holds the whole body.
  static bool readBodyOrReply(const httplib::Request &req, const httplib::ContentReader &reader,
                              std::string &body, httplib::Response &res);

  /// In a route handler registered with a ContentReader: the request body,
  /// read within the limits (de-chunked, decompressed). Anything but Complete
  /// also marks the connection to close after the response (the rest of the
  /// body is unread).
  static BodyStatus readBody(const httplib::Request &req, const httplib::ContentReader &reader,
                             std::string &body);
  /// In a route handler: close this connection once the response is written.
  static void closeAfterResponse();
  /// In a streamed response's content provider: the writes from here on get
  /// a fresh writeTimeout (each event of a stream is bounded, not the stream).
  static void restartWriteDeadline();

  /// Why this connection's request could not be read, when the reason is one
  /// of ours (deadline, header budget, stop): httplib answers those 400, an
  /// error handler can answer this instead.
  struct ReadFailure {
    int status;
    const char *reason;
    std::string message, type;
  };
  static std::optional<ReadFailure> readFailure();

private:
  void acceptLoop();
  void refuse(int fd);
  void joinFinished();

  HttpLimits limits_;
  int listenFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::list<std::thread> connections_;
  std::vector<std::thread::id> finished_;
};

} // namespace eert

#endif // EERT_CLI_BOUNDEDHTTPSERVER_H
