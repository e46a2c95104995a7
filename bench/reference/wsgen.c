/*
 * wsgen: a minimal, independent WebSocket load generator (RFC 6455 client role) on one epoll
 * thread, the reference that `wasmsocket load` is measured against (bench/load/load.ts).
 * It shares no code with the project: its own handshake, framing, masking and checks.
 *
 *   wsgen --mode echo --port P [--connections 100] [--in-flight 4] [--size 20] [--binary]
 *   wsgen --mode broadcast --port P [--connections 1000] [--in-flight 16] [--size 28] [--topic load]
 *   common: [--host 127.0.0.1] [--path /] [--seconds 3] [--warmup 1] [--verify-payload]
 *
 * echo: N connections, K masked messages in flight on each; a reply must be the next message
 * sent on that connection (sequence number at its head, its length, its last bytes, and with
 * --verify-payload every byte); each reply sends the next message. Counts round trips/s.
 * broadcast: N subscribers subscribe with the pub/sub JSON protocol
 * ({"type":"subscribe","topic":T}, acknowledged by {"type":"subscribed",...}); one more
 * connection publishes {"type":"publish","topic":T,"data":"<seq 10 digits>:<padding>"} and is
 * kept at most K publishes ahead of the slowest subscriber (closed loop). Every subscriber must
 * receive every publish in order as {"type":"message","topic":T,"data":"..."} (or, from a server
 * that keeps history, with ,"offset":N before the closing brace). Counts deliveries/s.
 *
 * Any frame that breaks these rules ends the run with exit code 1 and a line saying why, so a
 * figure it prints is work that was done and checked. It prints its own CPU time per second of
 * wall time (one thread: 100% means the generator was the limit), per second on stderr and in
 * the one JSON line on stdout at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUFFER (1 << 20)
#define HEAD_KEEP 128 /* payload bytes kept from each frame's start, for its checks */
#define TAIL_KEEP 8   /* and from its end */
#define MAX_CONNECTING 64
#define SEQ_DIGITS 10

enum mode { ECHO, BROADCAST };
enum state { CONNECTING, HANDSHAKE, OPEN };

struct conn {
  int fd;
  int index;
  enum state state;
  int publisher;
  int subscribed;
  int want_write; /* EPOLLOUT armed */
  /* handshake response */
  char *head;
  size_t head_len;
  /* frame parser (server frames are never masked) */
  uint8_t hdr[14];
  size_t hdr_len;
  int in_payload;
  uint8_t opcode;
  uint64_t plen, ppos;
  uint8_t keep[HEAD_KEEP];
  uint8_t tail[TAIL_KEEP];
  /* output: frames queued, written at the end of the read that queued them */
  uint8_t *out;
  size_t out_off, out_len, out_cap;
  uint64_t next_seq;   /* echo: next to send */
  uint64_t expect_seq; /* echo and broadcast: next to receive */
  int dirty;
};

static struct {
  enum mode mode;
  const char *host;
  int port;
  const char *path;
  int connections;
  int in_flight;
  size_t size;
  int binary;
  const char *topic;
  double seconds, warmup;
  int verify_payload;
} opt = { ECHO, "127.0.0.1", 0, "/", 100, 4, 20, 0, "load", 3, 1, 0 };

static int epfd;
static struct conn *conns;
static int total_conns;
static int opened, started, connecting;
static int subscribed_count;
static int running; /* traffic flows */
static uint64_t received;  /* round trips or deliveries, whole run */
static uint8_t *payload_template; /* echo: the message; broadcast: the publish */
static size_t template_len;
static uint8_t *delivery_prefix; /* broadcast: {"type":"message","topic":T,"data":" */
static size_t delivery_prefix_len, delivery_len;
/* broadcast closed loop */
static uint64_t published, completed;
static int *delivered_ring; /* deliveries of publish j at j % in_flight */
static struct conn *publisher;
static struct conn **dirty_list;
static int dirty_count;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "wsgen: ");
  vfprintf(stderr, format, args);
  fprintf(stderr, "\n");
  va_end(args);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t next_mask_key(void) {
  /* xorshift64*, seeded from the clock: a fresh key per frame (RFC 6455 §5.3). */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}

static void arm(struct conn *c, int want_write) {
  struct epoll_event ev = { .events = EPOLLIN | (want_write ? EPOLLOUT : 0), .data.ptr = c };
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
  c->want_write = want_write;
}

static void reserve(struct conn *c, size_t more) {
  if (c->out_off > 0 && c->out_len + more > c->out_cap) {
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  if (c->out_len + more > c->out_cap) {
    size_t cap = c->out_cap == 0 ? 4096 : c->out_cap;
    while (cap < c->out_len + more) cap *= 2;
    c->out = realloc(c->out, cap);
    if (c->out == NULL) fail("out of memory");
    c->out_cap = cap;
  }
}

/* Appends one masked, final frame carrying `payload`. */
static void queue_frame(struct conn *c, uint8_t opcode, const uint8_t *payload, size_t len) {
  reserve(c, len + 14);
  uint8_t *p = c->out + c->out_len;
  size_t h = 0;
  p[h++] = 0x80 | opcode;
  if (len < 126) {
    p[h++] = 0x80 | (uint8_t)len;
  } else if (len < 65536) {
    p[h++] = 0x80 | 126;
    p[h++] = (uint8_t)(len >> 8);
    p[h++] = (uint8_t)len;
  } else {
    p[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  uint32_t key = next_mask_key();
  uint8_t k[4];
  memcpy(k, &key, 4);
  memcpy(p + h, k, 4);
  h += 4;
  uint8_t *dst = p + h;
  uint64_t k64;
  memcpy(&k64, k, 4);
  memcpy((uint8_t *)&k64 + 4, k, 4);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, payload + i, 8);
    w ^= k64;
    memcpy(dst + i, &w, 8);
  }
  for (; i < len; i++) dst[i] = payload[i] ^ k[i & 3];
  c->out_len += h + len;
  if (!c->dirty) {
    c->dirty = 1;
    dirty_list[dirty_count++] = c;
  }
}

static void flush(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!c->want_write) arm(c, 1);
        return;
      }
      if (errno == EINTR) continue;
      fail("connection %d: send: %s", c->index, strerror(errno));
    }
    c->out_off += (size_t)n;
  }
  c->out_off = c->out_len = 0;
  if (c->want_write) arm(c, 0);
}

static void flush_dirty(void) {
  for (int i = 0; i < dirty_count; i++) {
    dirty_list[i]->dirty = 0;
    flush(dirty_list[i]);
  }
  dirty_count = 0;
}

static void write_digits(uint8_t *p, int digits, uint64_t value) {
  for (int i = digits - 1; i >= 0; i--) {
    p[i] = (uint8_t)('0' + value % 10);
    value /= 10;
  }
}

static int64_t read_digits(const uint8_t *p, int digits) {
  int64_t value = 0;
  for (int i = 0; i < digits; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    value = value * 10 + (p[i] - '0');
  }
  return value;
}

static void send_echo(struct conn *c) {
  write_digits(payload_template, SEQ_DIGITS, c->next_seq++);
  queue_frame(c, opt.binary ? 2 : 1, payload_template, template_len);
}

static void send_publish(void) {
  write_digits(payload_template + delivery_prefix_len, SEQ_DIGITS, published++); /* "publish" and "message" are both 7 letters */
  queue_frame(publisher, 1, payload_template, template_len);
}

static void fill_publisher(void) {
  if (!running || publisher == NULL) return;
  while (published - completed < (uint64_t)opt.in_flight) send_publish();
}

static void echo_reply(struct conn *c) {
  if (c->opcode != (opt.binary ? 2 : 1)) fail("connection %d: reply opcode %d", c->index, c->opcode);
  if (c->plen != template_len) fail("connection %d: reply of %llu bytes, sent %zu", c->index, (unsigned long long)c->plen, template_len);
  int64_t seq = read_digits(c->keep, SEQ_DIGITS);
  if (seq < 0 || (uint64_t)seq != c->expect_seq) fail("connection %d: reply %lld, expected %llu", c->index, (long long)seq, (unsigned long long)c->expect_seq);
  if (memcmp(c->tail, payload_template + template_len - TAIL_KEEP, TAIL_KEEP) != 0) fail("connection %d: reply's last bytes differ", c->index);
  c->expect_seq++;
  received++;
  if (running) send_echo(c);
}

/*
 * The end of a delivery: `"}` at the expected length, or `","offset":N}` (a server keeping
 * history, as wasmsocket's does by default) with the last TAIL_KEEP bytes ending in N's digits.
 */
static int delivery_end_ok(const struct conn *c) {
  static const size_t offset_key = sizeof ",\"offset\":" - 1;
  if (c->plen == delivery_len) return memcmp(c->tail + TAIL_KEEP - 2, "\"}", 2) == 0;
  if (c->plen <= delivery_len + offset_key || c->plen > delivery_len + offset_key + 16) return 0;
  size_t digits = (size_t)(c->plen - delivery_len - offset_key);
  if (c->tail[TAIL_KEEP - 1] != '}') return 0;
  for (size_t i = 0; i < digits && i < TAIL_KEEP - 1; i++) {
    uint8_t d = c->tail[TAIL_KEEP - 2 - i];
    if (d < '0' || d > '9') return 0;
  }
  return digits >= TAIL_KEEP - 1 || c->tail[TAIL_KEEP - 2 - digits] == ':';
}

static void broadcast_message(struct conn *c) {
  if (c->opcode != 1) fail("connection %d: opcode %d", c->index, c->opcode);
  if (!c->subscribed) {
    static const char ack[] = "{\"type\":\"subscribed\"";
    if (c->plen < sizeof ack - 1 || memcmp(c->keep, ack, sizeof ack - 1) != 0) {
      fail("connection %d: expected the subscribe acknowledgement, got %.*s", c->index, (int)(c->plen < HEAD_KEEP ? c->plen : HEAD_KEEP), c->keep);
    }
    c->subscribed = 1;
    subscribed_count++;
    return;
  }
  if (memcmp(c->keep, delivery_prefix, delivery_prefix_len) != 0 || !delivery_end_ok(c)) {
    fail("connection %d: not a delivery of ours (%llu bytes): %.*s", c->index, (unsigned long long)c->plen, (int)(c->plen < HEAD_KEEP ? c->plen : HEAD_KEEP), c->keep);
  }
  int64_t seq = read_digits(c->keep + delivery_prefix_len, SEQ_DIGITS);
  if (seq < 0 || (uint64_t)seq != c->expect_seq) fail("connection %d: delivery %lld, expected %llu (lost or reordered)", c->index, (long long)seq, (unsigned long long)c->expect_seq);
  c->expect_seq++;
  received++;
  int subscribers = opt.connections;
  if (++delivered_ring[seq % opt.in_flight] == subscribers) {
    /* In-order delivery per subscriber: publish j completes only after every earlier one. */
    if ((uint64_t)seq != completed) fail("publish %lld completed before %llu", (long long)seq, (unsigned long long)completed);
    delivered_ring[seq % opt.in_flight] = 0;
    completed++;
    fill_publisher();
  }
}

static void frame_done(struct conn *c) {
  switch (c->opcode) {
  case 0x9: /* ping: answer with a pong carrying the same payload (≤ 125 bytes) */
    queue_frame(c, 0xA, c->keep, c->plen);
    return;
  case 0xA:
    return;
  case 0x8:
    fail("connection %d: the server closed the connection (%llu bytes of close payload)", c->index, (unsigned long long)c->plen);
  }
  if (c->publisher) fail("publisher: unexpected message %.*s", (int)(c->plen < HEAD_KEEP ? c->plen : HEAD_KEEP), c->keep);
  if (opt.mode == ECHO) echo_reply(c);
  else broadcast_message(c);
}

/* Feeds received bytes to the frame parser; frames may be split anywhere. */
static void parse_frames(struct conn *c, const uint8_t *buf, size_t n) {
  size_t pos = 0;
  while (pos < n) {
    if (!c->in_payload) {
      if (c->hdr_len < 2) {
        c->hdr[c->hdr_len++] = buf[pos++];
        continue;
      }
      size_t need = 2 + ((c->hdr[1] & 127) == 126 ? 2 : (c->hdr[1] & 127) == 127 ? 8 : 0);
      while (c->hdr_len < need && pos < n) c->hdr[c->hdr_len++] = buf[pos++];
      if (c->hdr_len < need) return;
      if ((c->hdr[0] & 0x80) == 0) fail("connection %d: fragmented message (FIN clear)", c->index);
      if (c->hdr[0] & 0x70) fail("connection %d: RSV bits set", c->index);
      if (c->hdr[1] & 0x80) fail("connection %d: masked server frame", c->index);
      uint64_t len = c->hdr[1] & 127;
      if (len == 126) len = ((uint64_t)c->hdr[2] << 8) | c->hdr[3];
      else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | c->hdr[2 + i];
      }
      c->opcode = c->hdr[0] & 15;
      c->plen = len;
      c->ppos = 0;
      c->hdr_len = 0;
      c->in_payload = 1;
      memset(c->tail, 0, TAIL_KEEP);
    }
    size_t take = n - pos;
    if (take > c->plen - c->ppos) take = (size_t)(c->plen - c->ppos);
    const uint8_t *chunk = buf + pos;
    uint64_t start = c->ppos, end = c->ppos + take;
    if (start < HEAD_KEEP) memcpy(c->keep + start, chunk, (size_t)((end < HEAD_KEEP ? end : HEAD_KEEP) - start));
    uint64_t tail_start = c->plen > TAIL_KEEP ? c->plen - TAIL_KEEP : 0;
    if (end > tail_start) {
      uint64_t from = start > tail_start ? start : tail_start;
      memcpy(c->tail + (TAIL_KEEP - (c->plen - from)), chunk + (from - start), (size_t)(end - from));
    }
    if (opt.verify_payload && opt.mode == ECHO && end > SEQ_DIGITS && c->plen == template_len) {
      uint64_t from = start > SEQ_DIGITS ? start : SEQ_DIGITS;
      if (memcmp(chunk + (from - start), payload_template + from, (size_t)(end - from)) != 0) fail("connection %d: reply bytes differ", c->index);
    }
    c->ppos = end;
    pos += take;
    if (c->ppos == c->plen) {
      c->in_payload = 0;
      frame_done(c);
    }
  }
}

static const char *ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; /* for the RFC's sample key */

static void open_next(void) {
  struct conn *c = &conns[started];
  c->index = started++;
  c->publisher = opt.mode == BROADCAST && c->index == total_conns - 1;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) fail("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
  if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) fail("--host must be an IPv4 address, got %s", opt.host);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) fail("connect: %s", strerror(errno));
  c->state = CONNECTING;
  struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
  c->want_write = 1;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
  connecting++;
}

static void on_connected(struct conn *c) {
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) fail("connection %d: connect: %s", c->index, strerror(error));
  char request[512];
  int n = snprintf(request, sizeof request,
    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", opt.path, opt.host, opt.port);
  if (send(c->fd, request, (size_t)n, MSG_NOSIGNAL) != n) fail("connection %d: handshake request not sent whole", c->index);
  c->state = HANDSHAKE;
  c->head = malloc(4096);
  c->head_len = 0;
  arm(c, 0);
}

static void on_opened(struct conn *c) {
  opened++;
  connecting--;
  if (opt.mode == BROADCAST) {
    if (c->publisher) {
      publisher = c;
    } else {
      char subscribe[256];
      int n = snprintf(subscribe, sizeof subscribe, "{\"type\":\"subscribe\",\"topic\":\"%s\"}", opt.topic);
      queue_frame(c, 1, (const uint8_t *)subscribe, (size_t)n);
    }
  }
}

static void on_handshake_bytes(struct conn *c, const uint8_t *buf, size_t n) {
  size_t room = 4096 - c->head_len;
  size_t copy = n < room ? n : room;
  memcpy(c->head + c->head_len, buf, copy);
  c->head_len += copy;
  char *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
  if (end == NULL) {
    if (c->head_len == 4096) fail("connection %d: handshake response over 4 KiB", c->index);
    return;
  }
  size_t head_size = (size_t)(end - c->head) + 4;
  if (strncmp(c->head, "HTTP/1.1 101", 12) != 0) fail("connection %d: handshake answered %.*s", c->index, 12, c->head);
  if (memmem(c->head, head_size, ACCEPT, strlen(ACCEPT)) == NULL) fail("connection %d: wrong Sec-WebSocket-Accept", c->index);
  c->state = OPEN;
  /* The response head ended inside this read: the rest of it are the first frames. */
  size_t consumed_from_buf = head_size - (c->head_len - copy);
  free(c->head);
  c->head = NULL;
  on_opened(c);
  if (consumed_from_buf < n) parse_frames(c, buf + consumed_from_buf, n - consumed_from_buf);
}

static void on_readable(struct conn *c, uint8_t *buf) {
  ssize_t n = recv(c->fd, buf, READ_BUFFER, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    fail("connection %d: recv: %s", c->index, strerror(errno));
  }
  if (n == 0) fail("connection %d: the server closed TCP", c->index);
  if (c->state == HANDSHAKE) on_handshake_bytes(c, buf, (size_t)n);
  else parse_frames(c, buf, (size_t)n);
}

static void parse_options(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(name, "--binary") == 0) { opt.binary = 1; continue; }
    if (strcmp(name, "--verify-payload") == 0) { opt.verify_payload = 1; continue; }
    if (value == NULL) fail("%s needs a value", name);
    i++;
    if (strcmp(name, "--mode") == 0) {
      if (strcmp(value, "echo") == 0) opt.mode = ECHO;
      else if (strcmp(value, "broadcast") == 0) opt.mode = BROADCAST;
      else fail("--mode must be echo or broadcast, got %s", value);
    } else if (strcmp(name, "--host") == 0) opt.host = value;
    else if (strcmp(name, "--port") == 0) opt.port = atoi(value);
    else if (strcmp(name, "--path") == 0) opt.path = value;
    else if (strcmp(name, "--connections") == 0) opt.connections = atoi(value);
    else if (strcmp(name, "--in-flight") == 0) opt.in_flight = atoi(value);
    else if (strcmp(name, "--size") == 0) opt.size = (size_t)atol(value);
    else if (strcmp(name, "--topic") == 0) opt.topic = value;
    else if (strcmp(name, "--seconds") == 0) opt.seconds = atof(value);
    else if (strcmp(name, "--warmup") == 0) opt.warmup = atof(value);
    else fail("unknown option %s", name);
  }
  if (opt.port <= 0 || opt.port > 65535) fail("--port must be 1-65535");
  if (opt.connections < 1 || opt.in_flight < 1 || opt.seconds <= 0 || opt.warmup < 0) fail("--connections, --in-flight, --seconds must be positive");
  if (opt.mode == ECHO && opt.size < SEQ_DIGITS + TAIL_KEEP) fail("--size must be at least %d for echo", SEQ_DIGITS + TAIL_KEEP);
  if (opt.mode == BROADCAST && opt.size < SEQ_DIGITS + 1) fail("--size must be at least %d for broadcast", SEQ_DIGITS + 1);
  if (strlen(opt.topic) > 64 || strpbrk(opt.topic, "\"\\") != NULL) fail("--topic: at most 64 characters, no quotes or backslashes");
}

static void build_templates(void) {
  if (opt.mode == ECHO) {
    template_len = opt.size;
    payload_template = malloc(template_len);
    for (size_t i = 0; i < template_len; i++) payload_template[i] = (uint8_t)('a' + i % 26);
    return;
  }
  /* data: "<seq>:<padding>" of --size bytes; the publish and its delivery differ only in "type". */
  char *data = malloc(opt.size + 1);
  memset(data, 'x', opt.size);
  data[SEQ_DIGITS] = ':';
  memset(data, '0', SEQ_DIGITS);
  data[opt.size] = 0;
  size_t cap = opt.size + 256;
  payload_template = malloc(cap);
  template_len = (size_t)snprintf((char *)payload_template, cap, "{\"type\":\"publish\",\"topic\":\"%s\",\"data\":\"%s\"}", opt.topic, data);
  delivery_prefix = malloc(256);
  delivery_prefix_len = (size_t)snprintf((char *)delivery_prefix, 256, "{\"type\":\"message\",\"topic\":\"%s\",\"data\":\"", opt.topic);
  delivery_len = delivery_prefix_len + opt.size + 2;
  if (delivery_prefix_len + SEQ_DIGITS > HEAD_KEEP) fail("--topic too long");
  free(data);
}

int main(int argc, char **argv) {
  parse_options(argc, argv);
  build_templates();
  rng ^= (uint64_t)(now_s() * 1e9) ^ ((uint64_t)getpid() << 32);
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (rlim_t)opt.connections + 64) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  total_conns = opt.connections + (opt.mode == BROADCAST ? 1 : 0);
  conns = calloc((size_t)total_conns, sizeof *conns);
  dirty_list = calloc((size_t)total_conns, sizeof *dirty_list);
  delivered_ring = calloc((size_t)opt.in_flight, sizeof *delivered_ring);
  uint8_t *buf = malloc(READ_BUFFER);
  epfd = epoll_create1(0);
  struct epoll_event events[256];

  double t0 = now_s();
  double go_at = 0, measure_at = 0, end_at = 0, next_report = 0;
  uint64_t measured_from = 0, last_count = 0;
  double cpu_from = 0, last_cpu = 0, last_at = 0;
  for (;;) {
    while (started < total_conns && connecting < MAX_CONNECTING) open_next();
    int ready = epoll_wait(epfd, events, 256, 50);
    if (ready < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < ready; i++) {
      struct conn *c = events[i].data.ptr;
      uint32_t what = events[i].events;
      if (c->state == CONNECTING) {
        if (what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        continue;
      }
      if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c, buf);
      if ((what & EPOLLOUT) && c->out_len > c->out_off) flush(c);
    }
    flush_dirty();
    double t = now_s();
    if (!running) {
      if (t - t0 > 30) fail("not ready after 30 s: %d of %d connections open, %d subscribed", opened, total_conns, subscribed_count);
      int ready_to_go = opened == total_conns && (opt.mode == ECHO || subscribed_count == opt.connections);
      if (!ready_to_go) continue;
      running = 1;
      go_at = t;
      measure_at = go_at + opt.warmup;
      end_at = measure_at + opt.seconds;
      if (opt.mode == ECHO) {
        for (int k = 0; k < total_conns; k++) for (int j = 0; j < opt.in_flight; j++) send_echo(&conns[k]);
      } else {
        fill_publisher();
      }
      flush_dirty();
      continue;
    }
    if (measure_at > 0 && t >= measure_at && next_report == 0) {
      measured_from = last_count = received;
      cpu_from = last_cpu = cpu_s();
      last_at = measure_at = t;
      end_at = t + opt.seconds;
      next_report = t + 1;
    }
    if (next_report > 0 && (t >= next_report || t >= end_at)) {
      double cpu = cpu_s();
      fprintf(stderr, "wsgen: %5.1f s  %.0f %s/s  cpu %.0f%%\n", t - measure_at, (received - last_count) / (t - last_at),
        opt.mode == ECHO ? "round trips" : "deliveries", 100 * (cpu - last_cpu) / (t - last_at));
      last_count = received;
      last_cpu = cpu;
      last_at = t;
      next_report = t + 1;
    }
    if (next_report > 0 && t >= end_at) {
      double wall = t - measure_at;
      double cpu = cpu_s() - cpu_from;
      uint64_t count = received - measured_from;
      printf("{\"mode\":\"%s\",\"connections\":%d,\"inFlight\":%d,\"size\":%zu,\"binary\":%s,\"seconds\":%.3f,"
        "\"count\":%llu,\"perSecond\":%.1f,\"cpuPercent\":%.1f,\"published\":%llu}\n",
        opt.mode == ECHO ? "echo" : "broadcast", opt.connections, opt.in_flight, opt.size, opt.binary ? "true" : "false", wall,
        (unsigned long long)count, count / wall, 100 * cpu / wall, (unsigned long long)published);
      fflush(stdout);
      return 0;
    }
  }
}
