// BoundedHttpServer.cpp - connections of the HTTP server: accept loop, deadlines, budgets, stop.
#include "cli/serve/BoundedHttpServer.h"

#include "cli/serve/ServeRequests.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <system_error>
#include <sys/socket.h>
#include <unistd.h>

namespace eert {

namespace {

using Clock = std::chrono::steady_clock;

/// Every blocking wait is cut into slices this long so a stop is seen soon.
constexpr std::chrono::milliseconds kSlice{50};

/// The bytes a connection may still read in the current phase of a request.
enum class Phase { Idle, Head, Body, Done };

/// One accepted socket as httplib's Stream: reads are buffered (httplib reads
/// request lines a byte at a time), bounded by the request's deadline and
/// byte budget, and cut by a stop; writes are bounded by the response's deadline.
class HttpConnection : public httplib::Stream {
public:
  HttpConnection(const BoundedHttpServer &server, int fd) : server_(server), fd_(fd) {}

  /// Waits (idleTimeout at most) for the first byte of a request; false when
  /// the client is gone, stayed idle or the server stops.
  bool waitForRequest() {
    if (begin_ < end_)
      return true;
    Clock::time_point until = Clock::now() + server_.limits().idleTimeout;
    while (!server_.stopping()) {
      auto left = until - Clock::now();
      if (left <= Clock::duration::zero())
        return false;
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, timeoutMs(left));
      if (ready > 0)
        return true;
      if (ready < 0 && errno != EINTR)
        return false;
    }
    return false;
  }

  void beginRequest() {
    phase_ = Phase::Head;
    budget_ = server_.limits().maxHeaderBytes;
    readDeadline_ = Clock::now() + server_.limits().requestTimeout;
    writeStarted_ = false;
    timedOut_ = overBudget_ = stopped_ = wrote_ = closeAfter_ = false;
  }
  void beginBody() {
    phase_ = Phase::Body;
    // Chunked framing and compression make the bytes on the wire differ from
    // the body; the handler bounds the body itself, this bounds the framing.
    budget_ = 4 * server_.limits().maxBodyBytes + server_.limits().maxHeaderBytes;
  }
  void endReading() { phase_ = Phase::Done; }

  bool timedOut() const { return timedOut_; }
  bool overBudget() const { return overBudget_; }
  bool stopped() const { return stopped_; }
  bool wrote() const { return wrote_; }
  bool closeAfter() const { return closeAfter_; }
  void setCloseAfter() { closeAfter_ = true; }
  void restartWriteDeadline() { writeStarted_ = false; }
  const BoundedHttpServer &server() const { return server_; }

  /// Writes all of `bytes` unless the write deadline passes.
  void writeAll(const std::string &bytes) {
    for (size_t done = 0; done < bytes.size();) {
      ssize_t sent = write(bytes.data() + done, bytes.size() - done);
      if (sent <= 0)
        return;
      done += static_cast<size_t>(sent);
    }
  }

  bool is_readable() const override { return begin_ < end_ || pollOnce(POLLIN); }
  bool is_writable() const override { return pollOnce(POLLOUT); }

  ssize_t read(char *ptr, size_t size) override {
    if (begin_ == end_) {
      ssize_t got = fill();
      if (got <= 0)
        return got;
    }
    size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char *ptr, size_t size) override {
    if (!writeStarted_) {
      writeStarted_ = true;
      writeDeadline_ = Clock::now() + server_.limits().writeTimeout;
    }
    while (true) {
      auto left = writeDeadline_ - Clock::now();
      if (left <= Clock::duration::zero())
        return -1;
      pollfd p{fd_, POLLOUT, 0};
      int ready = ::poll(&p, 1, timeoutMs(left));
      if (ready < 0 && errno != EINTR)
        return -1;
      if (ready <= 0)
        continue;
      ssize_t sent = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent >= 0) {
        wrote_ = wrote_ || sent > 0;
        return sent;
      }
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    }
  }

  void get_remote_ip_and_port(std::string &ip, int &port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string &ip, int &port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

private:
  static int timeoutMs(Clock::duration left) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1;
    return static_cast<int>(std::min<int64_t>(ms, kSlice.count()));
  }
  bool pollOnce(short events) const {
    pollfd p{fd_, events, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  /// Reads what the socket has (within the phase's budget) into the buffer.
  ssize_t fill() {
    if (phase_ == Phase::Idle || phase_ == Phase::Done)
      return -1; // httplib reads only between beginRequest and endReading
    if (budget_ == 0) {
      overBudget_ = true;
      return -1;
    }
    while (true) {
      if (server_.stopping()) {
        stopped_ = true;
        return -1;
      }
      auto left = readDeadline_ - Clock::now();
      if (left <= Clock::duration::zero()) {
        timedOut_ = true;
        return -1;
      }
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, timeoutMs(left));
      if (ready < 0 && errno != EINTR)
        return -1;
      if (ready <= 0)
        continue;
      ssize_t got = ::recv(fd_, buffer_, std::min(sizeof(buffer_), budget_), MSG_DONTWAIT);
      if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        continue;
      if (got > 0) {
        budget_ -= static_cast<size_t>(got);
        begin_ = 0;
        end_ = static_cast<size_t>(got);
      }
      return got;
    }
  }

  template <typename Query>
  void address(Query query, std::string &ip, int &port) const {
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    ip.clear();
    port = 0;
    if (query(fd_, reinterpret_cast<sockaddr *>(&addr), &length) != 0)
      return;
    char text[INET6_ADDRSTRLEN] = {0};
    if (addr.ss_family == AF_INET) {
      auto *in = reinterpret_cast<sockaddr_in *>(&addr);
      ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      port = ntohs(in->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto *in6 = reinterpret_cast<sockaddr_in6 *>(&addr);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      port = ntohs(in6->sin6_port);
    }
    ip = text;
  }

  const BoundedHttpServer &server_;
  int fd_;
  char buffer_[4096];
  size_t begin_ = 0, end_ = 0;
  Phase phase_ = Phase::Idle;
  size_t budget_ = 0;
  Clock::time_point readDeadline_, writeDeadline_;
  bool writeStarted_ = false;
  bool timedOut_ = false, overBudget_ = false, stopped_ = false, wrote_ = false,
       closeAfter_ = false;
};

/// The connection the calling thread serves (handlers run on it).
thread_local HttpConnection *currentConnection = nullptr;

/// A whole response written without httplib, for requests it gave up on.
std::string rawResponse(int status, const char *reason, const std::string &message,
                        const std::string &type) {
  std::string body = errorBody(message, type).dump();
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// The error type of an HTTP status, as OpenAI names them where it does.
const char *errorType(int status) {
  switch (status) {
  case 408:
    return "timeout_error";
  case 503:
    return "server_overloaded";
  default:
    return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

} // namespace

BoundedHttpServer::BoundedHttpServer(HttpLimits limits) : limits_(limits) {
  set_payload_max_length(limits_.maxBodyBytes);
  set_keep_alive_max_count(limits_.maxRequestsPerConnection);
  // Only the Keep-Alive header httplib writes reads it; waitForRequest enforces it.
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(limits_.idleTimeout).count()));
}

BoundedHttpServer::~BoundedHttpServer() { stop(); }

int BoundedHttpServer::listenOn(const std::string &host, int port) {
  int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  if (bound < 0)
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  listenFd_ = svr_sock_;
  // httplib listens with a backlog of 5: connections past it wait for SYN
  // retransmits (a second or more) before the cap or a deadline can act on them.
  ::listen(listenFd_, SOMAXCONN);
  return bound;
}

void BoundedHttpServer::start() {
  if (listenFd_ < 0)
    throw std::logic_error("BoundedHttpServer::start before listenOn");
  acceptor_ = std::thread([this] { acceptLoop(); });
}

void BoundedHttpServer::acceptLoop() {
  while (!stopping_) {
    pollfd p{listenFd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(kSlice.count()));
    joinFinished();
    if (ready <= 0)
      continue;
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the clients waiting in the backlog get their turn later.
      if (errno == EMFILE || errno == ENFILE)
        std::this_thread::sleep_for(kSlice);
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (connections_.size() - finished_.size() >= limits_.maxConnections) {
      refuse(fd);
      continue;
    }
    try {
      connections_.emplace_back([this, fd] {
        serveSocket(fd);
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.push_back(std::this_thread::get_id());
      });
    } catch (const std::system_error &) {
      refuse(fd); // no thread to be had: as if at the cap
    }
  }
}

void BoundedHttpServer::refuse(int fd) {
  std::string response =
      rawResponse(503, "Service Unavailable",
                  "too many connections (at most " + std::to_string(limits_.maxConnections) +
                      "); retry later",
                  "server_overloaded");
  (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

void BoundedHttpServer::joinFinished() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::thread::id id : finished_)
    for (auto it = connections_.begin(); it != connections_.end(); ++it)
      if (it->get_id() == id) {
        it->join();
        connections_.erase(it);
        break;
      }
  finished_.clear();
}

void BoundedHttpServer::serveSocket(int fd) {
  HttpConnection connection(*this, fd);
  currentConnection = &connection;
  for (size_t served = 0; served < limits_.maxRequestsPerConnection && !stopping_; ++served) {
    if (!connection.waitForRequest())
      break;
    connection.beginRequest();
    bool last = served + 1 == limits_.maxRequestsPerConnection;
    bool clientCloses = false;
    bool answered = process_request(connection, last, clientCloses, nullptr);
    // httplib gives up silently on a request line it could not read; where
    // the reason is ours, the client hears it.
    if (!answered && !connection.wrote())
      if (std::optional<ReadFailure> failure = readFailure()) {
        connection.endReading();
        connection.writeAll(rawResponse(failure->status, failure->reason, failure->message,
                                        failure->type));
      }
    if (!answered || clientCloses || connection.closeAfter() || connection.timedOut() ||
        connection.overBudget() || connection.stopped())
      break;
  }
  currentConnection = nullptr;
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

void BoundedHttpServer::stop() {
  if (stopping_.exchange(true))
    return;
  if (acceptor_.joinable())
    acceptor_.join();
  // New clients are refused by the kernel from here on, not left in the backlog.
  if (listenFd_ >= 0) {
    svr_sock_ = INVALID_SOCKET;
    ::close(listenFd_);
    listenFd_ = -1;
  }
  // Every connection sees stopping_ within a slice unless it writes a
  // response, which its write deadline bounds.
  std::list<std::thread> connections;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connections.swap(connections_);
    finished_.clear();
  }
  for (std::thread &thread : connections)
    thread.join();
}

BodyStatus BoundedHttpServer::readBody(const httplib::Request &req,
                                       const httplib::ContentReader &reader, std::string &body) {
  HttpConnection *connection = currentConnection;
  if (!connection)
    throw std::logic_error("BoundedHttpServer::readBody outside a connection's handler");
  size_t limit = connection->server().limits().maxBodyBytes;
  auto give_up = [&](BodyStatus status) {
    connection->endReading();
    connection->setCloseAfter();
    return status;
  };
  // Parsed by httplib with a receiver it does not have (an exception), and no client needs it.
  if (req.is_multipart_form_data())
    return give_up(BodyStatus::Unsupported);
  if (req.has_header("Content-Length")) {
    const std::string &text = req.get_header_value("Content-Length");
    char *end = nullptr;
    errno = 0;
    unsigned long long length = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE || text[0] == '-')
      return give_up(BodyStatus::Malformed);
    if (length > limit) // refused before reading a byte of it
      return give_up(BodyStatus::TooLarge);
  }
  connection->beginBody();
  bool tooLarge = false;
  bool complete = reader([&](const char *data, size_t size) {
    if (body.size() + size > limit) {
      tooLarge = true;
      return false;
    }
    body.append(data, size);
    return true;
  });
  if (complete) {
    connection->endReading();
    return BodyStatus::Complete;
  }
  if (tooLarge || connection->overBudget())
    return give_up(BodyStatus::TooLarge);
  if (connection->timedOut())
    return give_up(BodyStatus::TimedOut);
  if (connection->stopped())
    return give_up(BodyStatus::Stopping);
  return give_up(BodyStatus::Malformed);
}

std::optional<BoundedHttpServer::ReadFailure> BoundedHttpServer::readFailure() {
  HttpConnection *connection = currentConnection;
  if (!connection)
    return std::nullopt;
  const HttpLimits &limits = connection->server().limits();
  if (connection->timedOut())
    return ReadFailure{408, "Request Timeout",
                       "the request was not received within " +
                           std::to_string(limits.requestTimeout.count()) + " ms",
                       "timeout_error"};
  if (connection->overBudget())
    return ReadFailure{431, "Request Header Fields Too Large",
                       "the request line and headers exceed " +
                           std::to_string(limits.maxHeaderBytes) + " bytes",
                       "invalid_request_error"};
  if (connection->stopped())
    return ReadFailure{503, "Service Unavailable", "the server is shutting down",
                       "server_overloaded"};
  return std::nullopt;
}

void BoundedHttpServer::replyError(httplib::Response &res, int status, const std::string &message) {
  res.status = status;
  res.set_content(errorBody(message, errorType(status))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

bool BoundedHttpServer::readBodyOrReply(const httplib::Request &req,
                                        const httplib::ContentReader &reader, std::string &body,
                                        httplib::Response &res) {
  BodyStatus status = readBody(req, reader, body);
  const HttpLimits &limits = currentConnection->server().limits();
  switch (status) {
  case BodyStatus::Complete:
    return true;
  case BodyStatus::TooLarge:
    replyError(res, 413, "the request body exceeds " + std::to_string(limits.maxBodyBytes) +
                             " bytes");
    break;
  case BodyStatus::TimedOut:
    replyError(res, 408, "the request body was not received within " +
                             std::to_string(limits.requestTimeout.count()) + " ms");
    break;
  case BodyStatus::Stopping:
    replyError(res, 503, "the server is shutting down");
    break;
  case BodyStatus::Unsupported:
    replyError(res, 415, "multipart bodies are not accepted; send JSON");
    break;
  case BodyStatus::Malformed:
    replyError(res, 400, "the request body could not be read (Content-Length or chunked "
                         "encoding malformed, or the connection closed)");
    break;
  }
  return false;
}

void BoundedHttpServer::finishRoutes(
    const std::vector<std::pair<std::string, std::string>> &endpoints) {
  std::string known;
  for (const auto &[path, method] : endpoints)
    known += (known.empty() ? "" : ", ") + method + " " + path;
  auto unknown = [known](const httplib::Request &req) {
    return "no such endpoint: " + excerpt(req.method, 16) + " " + excerpt(req.path) + " (" +
           known + ")";
  };
  // Their bodies stay unread, so the connection closes after the answer.
  auto wrongMethod = [](std::string allowed) {
    return [allowed](const httplib::Request &req, httplib::Response &res) {
      closeAfterResponse();
      res.set_header("Allow", allowed);
      replyError(res, 405,
                 excerpt(req.method, 16) + " " + excerpt(req.path) + " is not allowed; use " +
                     allowed);
    };
  };
  auto withBody = [](Handler handler) {
    return [handler](const httplib::Request &req, httplib::Response &res,
                     const httplib::ContentReader &) { handler(req, res); };
  };
  for (const auto &[path, method] : endpoints) {
    Handler refuse = wrongMethod(method);
    if (method != "GET")
      Get(path, refuse);
    if (method != "POST")
      Post(path, withBody(refuse));
    if (method != "PUT")
      Put(path, withBody(refuse));
    if (method != "PATCH")
      Patch(path, withBody(refuse));
    if (method != "DELETE")
      Delete(path, withBody(refuse));
    if (method != "OPTIONS")
      Options(path, refuse);
  }
  auto notFound = withBody([unknown](const httplib::Request &req, httplib::Response &res) {
    closeAfterResponse();
    replyError(res, 404, unknown(req));
  });
  Post(".*", notFound);
  Put(".*", notFound);
  Patch(".*", notFound);
  Delete(".*", notFound);
  set_error_handler(HandlerWithResponse([unknown](const httplib::Request &req,
                                                  httplib::Response &res) {
    if (!res.body.empty())
      return HandlerResponse::Unhandled;
    if (std::optional<ReadFailure> failure = readFailure()) {
      closeAfterResponse();
      res.status = failure->status;
      res.set_content(errorBody(failure->message, failure->type).dump(), "application/json");
      return HandlerResponse::Handled;
    }
    switch (res.status) {
    case 400:
      replyError(res, 400, "malformed HTTP request");
      break;
    case 404:
      replyError(res, 404, unknown(req));
      break;
    case 413:
      replyError(res, 413, "the request body is too large");
      break;
    case 414:
      replyError(res, 414, "the request URI is too long");
      break;
    default:
      replyError(res, res.status, "HTTP error " + std::to_string(res.status));
    }
    return HandlerResponse::Handled;
  }));
  set_exception_handler(
      [](const httplib::Request &, httplib::Response &res, std::exception_ptr error) {
        std::string message = "internal error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception &e) {
          message = e.what();
        } catch (...) {
        }
        replyError(res, 500, message);
      });
}

void BoundedHttpServer::closeAfterResponse() {
  if (currentConnection)
    currentConnection->setCloseAfter();
}

void BoundedHttpServer::restartWriteDeadline() {
  if (currentConnection)
    currentConnection->restartWriteDeadline();
}

} // namespace eert
