/*
 * xyra-load: the native WebSocket load generator of bench/ (Linux, epoll).
 *
 * Built with the system C compiler when a bench starts (bench/load/native.ts
 * caches the binary under bench/load/native/build/ and rebuilds it when this
 * file changes), driven by bench/run.ts and friends, and usable by hand:
 *
 *   xyra-load --port 9001 --mode echo --connections 100 --inflight 16 --size 16 --duration 5
 *
 * Why C: the JavaScript generator saturated its core before Bun and the
 * node:net floor did, so their figures measured the client. This one keeps
 * every connection in one epoll set per thread, writes pre-built masked
 * frames from one shared buffer (RFC 6455 5.3: the mask key is fixed, the
 * server must unmask anyway), counts replies by walking frame headers
 * without copying payloads, and allocates nothing per message.
 *
 * Modes (as the JS generator in bench/load/worker.ts):
 *   echo     K messages in flight per connection; every reply is answered
 *            with a new message (one write per read).
 *   latency  echo with K = 1 (request/response).
 *   rate     open loop: --rate messages/s spread over the connections,
 *            latency measured from the scheduled send time, so a server that
 *            falls behind is charged for the wait (no coordinated omission).
 *   fanout   N subscribers on --path, one publisher on --pub-path; the first
 *            subscriber paces the publisher (K publishes in flight).
 *   churn    N loops of connect, upgrade, close handshake, wait for the
 *            server to close TCP (RFC 6455 7.1.1), reconnect.
 *   idle     opens N connections, prints a "ready" line, holds them until
 *            stdin says "release" (or ends).
 *
 * Output: one JSON line on stdout ({"event":"result",...}, or "ready" /
 * "released" in idle mode, or {"event":"error",...} with exit status 1).
 * Latency: a histogram of 1 us buckets to 100 ms, then 1 ms to 10 s (as
 * bench/load/histogram.ts), reported as p50/p90/p99/p99.9/p99.99/max.
 * Fairness: messages per connection over the window, min/mean/max.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- configuration ---------------------------------------------------- */

enum mode { M_ECHO, M_LATENCY, M_RATE, M_FANOUT, M_CHURN, M_IDLE };
static const char *MODE_NAMES[] = {"echo", "latency", "rate", "fanout", "churn", "idle"};

static struct {
  const char *host;
  int port;
  const char *path;
  const char *pub_path;
  enum mode mode;
  long connections;
  long inflight;
  long size;
  int binary;
  double duration;
  double warmup;
  int threads;
  long connect_concurrency;
  const char *frame_file;
  const char *offer;
  int deflate;
  int prime;
  double rate;
  long ramp_step;
} cfg = {"127.0.0.1", 0, "/", "/pub", M_ECHO, 100, 16, 16, 0, 5, 1, 1, 256, NULL, NULL, 0, 0, 0, 0};

/* RFC 6455 1.3: the key of the RFC's own example, and its accept value. */
#define CLIENT_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define EXPECTED_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

static struct sockaddr_in addr;
/* One frame, and `batch_copies` of it back to back: any run of frames is one slice of `batch`. */
static uint8_t *frame;
static size_t frame_len;
static uint8_t *batch;
static size_t batch_len;
static char request[4096], pub_request[4096];
static uint32_t request_len, pub_request_len;
static uint8_t close_frame[8];

/* ---- time, errors ----------------------------------------------------- */

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

static void die(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("{\"event\":\"error\",\"error\":");
  json_string(stdout, msg);
  printf("}\n");
  fflush(stdout);
  exit(1);
}

/* ---- histogram (same buckets as bench/load/histogram.ts) -------------- */

#define FINE 100000u  /* 1 us buckets: [0, 100 ms) */
#define COARSE 9900u  /* 1 ms buckets: [100 ms, 10 s) */
#define HSIZE (FINE + COARSE + 1)

typedef struct {
  uint32_t *c;
  uint64_t total;
  uint64_t max_ns;
  double sum_us;
} hist_t;

static inline void hist_record(hist_t *h, uint64_t ns) {
  uint64_t us = ns / 1000;
  size_t i;
  if (us < FINE) i = (size_t)us;
  else {
    uint64_t ms = us / 1000 - 100;
    i = ms < COARSE ? FINE + (size_t)ms : HSIZE - 1;
  }
  h->c[i]++;
  h->total++;
  h->sum_us += (double)ns / 1000.0;
  if (ns > h->max_ns) h->max_ns = ns;
}

static double hist_percentile(const hist_t *h, double p) {
  if (h->total == 0) return -1;
  uint64_t rank = (uint64_t)((p / 100.0) * (double)h->total + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < HSIZE; i++) {
    seen += h->c[i];
    if (seen >= rank) return i < FINE ? (double)i : (double)(i - FINE + 100) * 1000.0;
  }
  return (double)(COARSE + 100) * 1000.0;
}

/* ---- connections -------------------------------------------------------- */

enum role { R_DATA, R_SUB, R_PUB, R_CHURN, R_IDLE };
enum state { S_FREE, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_DEAD };

struct worker;

typedef struct conn {
  int fd;
  uint8_t role, state, out_armed, closed_seen, primed, dirty;
  /* frame counter: header bytes carried across reads, payload bytes to skip */
  uint8_t fin, opcode, rsv1, head_have;
  uint8_t head[14];
  uint64_t skip;
  /* the response head when it spans reads (rare) */
  char *resp;
  uint32_t resp_len;
  /* a small write in progress (upgrade request, close frame) */
  const uint8_t *pbuf;
  uint32_t plen, poff;
  /* bytes owed of the endless stream of identical frames, and the offset within a frame */
  uint64_t owe;
  uint32_t off;
  /* send times (ns) of the messages in flight, oldest first */
  uint64_t *ring;
  uint32_t rhead, rcount, rcap;
  /* data messages received inside the window; fan-out: all received (for publish times) */
  uint64_t count, seq;
  uint64_t started;
  struct worker *w;
} conn_t;

typedef struct worker {
  int id, ep;
  pthread_t th;
  conn_t *conns;
  long nconns;   /* data/idle/churn connections of this worker */
  conn_t *pub;   /* fan-out publisher (worker 0) */
  conn_t *sentinel;
  /* connect phase */
  long to_open, pending, ready;
  int connecting, fail;
  /* run */
  int running, counting;
  hist_t hist;
  uint64_t messages, handshakes, errors, skipped, scheduled, rr, plain;
  /* rate mode: messages in flight when the window opened and closed (a growing queue means saturated) */
  uint64_t backlog0, backlog1;
  uint64_t win_start, win_end;
  double cpu;
  char first_error[256];
  uint8_t *rbuf;
  conn_t **dirty;
  long ndirty;
  conn_t **reopen;
  long nreopen;
} worker_t;

#define RBUF (256 * 1024)
#define PUB_RING 65536u
static worker_t *workers;
static pthread_barrier_t barrier;
static volatile int abort_all;
static uint64_t t_connect0, t_start, t_count, t_end;
static uint64_t upgraded_total;
static uint64_t *ramp_ns;
static long ramp_len;
/* Fan-out: when publish n was queued (ns); subscribers read it on other threads. */
static uint64_t pub_times[PUB_RING];
static uint64_t pub_seq;

static void note_error(worker_t *w, const char *fmt, ...) {
  w->errors++;
  if (w->first_error[0] == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_error, sizeof w->first_error, fmt, ap);
    va_end(ap);
  }
}

static void set_events(worker_t *w, conn_t *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static inline void ring_push(conn_t *c, uint64_t t) {
  if (c->rcount == c->rcap) return;
  c->ring[(c->rhead + c->rcount) % c->rcap] = t;
  c->rcount++;
}

static inline uint64_t ring_pop(conn_t *c) {
  if (c->rcount == 0) return 0;
  uint64_t t = c->ring[c->rhead];
  c->rhead = (c->rhead + 1) % c->rcap;
  c->rcount--;
  return t;
}

static void kill_conn(worker_t *w, conn_t *c) {
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->state = S_DEAD;
  free(c->resp);
  c->resp = NULL;
  c->resp_len = 0;
  if (c->role == R_CHURN && w->running && w->errors < 1000) w->reopen[w->nreopen++] = c;
}

/* A connection failed: an error, and during the connect phase the end of the run. */
static void conn_fail(worker_t *w, conn_t *c, const char *why) {
  note_error(w, "%s", why);
  if (w->connecting && c->role != R_CHURN) {
    w->fail = 1;
    abort_all = 1;
  }
  kill_conn(w, c);
}

static int open_conn(worker_t *w, conn_t *c, uint8_t role, const char *req, uint32_t req_len) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    note_error(w, "socket: %s", strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    note_error(w, "connect failed: %s", strerror(errno));
    close(fd);
    return -1;
  }
  uint64_t *ring = c->ring;
  uint32_t rcap = c->rcap;
  memset(c, 0, sizeof *c);
  c->ring = ring;
  c->rcap = rcap;
  c->fd = fd;
  c->w = w;
  c->role = role;
  c->state = S_CONNECTING;
  c->pbuf = (const uint8_t *)req;
  c->plen = req_len;
  c->started = now_ns();
  c->out_armed = 1;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    note_error(w, "epoll_ctl: %s", strerror(errno));
    close(fd);
    c->fd = -1;
    c->state = S_DEAD;
    return -1;
  }
  return 0;
}

/* Writes what the connection owes until done or the socket is full (then waits for EPOLLOUT). */
static void flush(worker_t *w, conn_t *c) {
  while (c->poff < c->plen) {
    ssize_t n = send(c->fd, c->pbuf + c->poff, c->plen - c->poff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) goto blocked;
      conn_fail(w, c, strerror(errno));
      return;
    }
    c->poff += (uint32_t)n;
  }
  while (c->owe > 0) {
    size_t avail = batch_len - c->off;
    size_t len = c->owe < avail ? (size_t)c->owe : avail;
    ssize_t n = send(c->fd, batch + c->off, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) goto blocked;
      conn_fail(w, c, strerror(errno));
      return;
    }
    c->owe -= (uint64_t)n;
    c->off = (uint32_t)((c->off + (size_t)n) % frame_len);
  }
  if (c->out_armed) {
    c->out_armed = 0;
    set_events(w, c, EPOLLIN);
  }
  return;
blocked:
  if (!c->out_armed) {
    c->out_armed = 1;
    set_events(w, c, EPOLLIN | EPOLLOUT);
  }
}

/* ---- frame counting (server frames: RFC 6455 5.2) ------------------------ */

static inline unsigned header_length(uint8_t b1) {
  unsigned len = b1 & 0x7f;
  return (len < 126 ? 2 : len == 126 ? 4 : 10) + ((b1 & 0x80) ? 4 : 0);
}

static inline void start_frame(conn_t *c, const uint8_t *h) {
  c->fin = (h[0] & 0x80) != 0;
  c->opcode = h[0] & 0x0f;
  /* RFC 7692 6: RSV1 marks a compressed message on its first frame only. */
  if (c->opcode == 1 || c->opcode == 2) c->rsv1 = (h[0] & 0x40) != 0;
  uint64_t len = h[1] & 0x7f;
  if (len == 126) len = ((uint64_t)h[2] << 8) | h[3];
  else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; i++) len = (len << 8) | h[i];
  }
  c->skip = len;
}

static inline void frame_done(conn_t *c, uint32_t *msgs, uint32_t *plain) {
  if (c->opcode == 8) c->closed_seen = 1;
  else if (c->opcode < 8 && c->fin) {
    (*msgs)++;
    if (!c->rsv1) (*plain)++;
  }
}

/* Walks frame headers, skipping payloads; returns the data messages completed. */
static uint32_t count_frames(conn_t *c, const uint8_t *p, size_t n, uint32_t *plain) {
  uint32_t msgs = 0;
  size_t i = 0;
  while (i < n) {
    if (c->skip > 0) {
      size_t take = (uint64_t)(n - i) < c->skip ? n - i : (size_t)c->skip;
      c->skip -= take;
      i += take;
      if (c->skip == 0) frame_done(c, &msgs, plain);
      continue;
    }
    if (c->head_have == 0 && n - i >= 2) {
      unsigned need = header_length(p[i + 1]);
      if (n - i >= need) {
        start_frame(c, p + i);
        i += need;
        if (c->skip == 0) frame_done(c, &msgs, plain);
        continue;
      }
    }
    c->head[c->head_have++] = p[i++];
    if (c->head_have >= 2 && c->head_have == header_length(c->head[1])) {
      start_frame(c, c->head);
      c->head_have = 0;
      if (c->skip == 0) frame_done(c, &msgs, plain);
    }
  }
  return msgs;
}

/* ---- handshake ---------------------------------------------------------- */

/* The value of header `name` in a response head, or NULL; `*vlen` gets its length. */
static const char *header_value(const char *h, size_t len, const char *name, size_t *vlen) {
  size_t nlen = strlen(name);
  const char *end = h + len;
  const char *line = memmem(h, len, "\r\n", 2);
  while (line != NULL && line + 2 < end) {
    line += 2;
    const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (eol == NULL) eol = end;
    if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    line = eol;
  }
  return NULL;
}

/* NULL when the 101 is good, else why not (in `buf`). */
static const char *check_response(const char *h, size_t len, char *buf, size_t bufsz) {
  if (len < 12 || memcmp(h, "HTTP/1.1 101", 12) != 0) {
    const char *eol = memmem(h, len, "\r\n", 2);
    int l = eol ? (int)(eol - h) : (int)len;
    if (l > 120) l = 120;
    snprintf(buf, bufsz, "upgrade refused: %.*s", l, h);
    return buf;
  }
  size_t vlen;
  const char *v = header_value(h, len, "sec-websocket-accept", &vlen);
  if (v == NULL || vlen != strlen(EXPECTED_ACCEPT) || memcmp(v, EXPECTED_ACCEPT, vlen) != 0) return "bad Sec-WebSocket-Accept";
  if (cfg.deflate) {
    v = header_value(h, len, "sec-websocket-extensions", &vlen);
    if (v == NULL || vlen < 18 || strncasecmp(v, "permessage-deflate", 18) != 0) return "server did not agree to permessage-deflate";
  }
  return NULL;
}

static void launch(worker_t *w);

/* A connection of the connect phase is ready (upgraded, and primed when asked). */
static void connected(worker_t *w) {
  if (!w->connecting) return;
  w->pending--;
  w->ready++;
  uint64_t k = __atomic_add_fetch(&upgraded_total, 1, __ATOMIC_RELAXED);
  if (cfg.ramp_step > 0 && k % (uint64_t)cfg.ramp_step == 0 && (long)(k / (uint64_t)cfg.ramp_step) <= ramp_len)
    ramp_ns[k / (uint64_t)cfg.ramp_step - 1] = now_ns() - t_connect0;
  launch(w);
}

static void on_upgraded(worker_t *w, conn_t *c) {
  c->state = S_OPEN;
  if (c->role == R_CHURN) {
    c->pbuf = close_frame;
    c->plen = sizeof close_frame;
    c->poff = 0;
    flush(w, c);
    return;
  }
  if (c->role == R_IDLE && cfg.prime) {
    /* Ready only after a round trip, so the server's per-message state (zlib contexts) exists. */
    c->owe = frame_len;
    flush(w, c);
    return;
  }
  connected(w);
}

/* ---- receiving ------------------------------------------------------------ */

static void publish(worker_t *w, uint32_t r, uint64_t now) {
  conn_t *p = w->pub;
  if (p == NULL || p->state != S_OPEN) return;
  for (uint32_t k = 0; k < r; k++) {
    uint64_t s = __atomic_load_n(&pub_seq, __ATOMIC_RELAXED);
    __atomic_store_n(&pub_times[s % PUB_RING], now, __ATOMIC_RELAXED);
    __atomic_store_n(&pub_seq, s + 1, __ATOMIC_RELEASE);
  }
  p->owe += (uint64_t)r * frame_len;
  flush(w, p);
}

static void on_messages(worker_t *w, conn_t *c, uint32_t r) {
  uint64_t now = now_ns();
  switch (c->role) {
    case R_DATA:
      for (uint32_t k = 0; k < r; k++) {
        uint64_t t = ring_pop(c);
        if (w->counting && t != 0) hist_record(&w->hist, now > t ? now - t : 0);
      }
      if (w->counting) {
        w->messages += r;
        c->count += r;
      }
      if (w->running && cfg.mode != M_RATE) {
        for (uint32_t k = 0; k < r; k++) ring_push(c, now);
        c->owe += (uint64_t)r * frame_len;
        flush(w, c);
      }
      break;
    case R_SUB: {
      uint64_t published = __atomic_load_n(&pub_seq, __ATOMIC_ACQUIRE);
      for (uint32_t k = 0; k < r; k++, c->seq++) {
        /* The n-th message a subscriber gets is the n-th publish (one topic, in order). */
        if (w->counting && c->seq < published && published - c->seq <= PUB_RING) {
          uint64_t t = __atomic_load_n(&pub_times[c->seq % PUB_RING], __ATOMIC_RELAXED);
          hist_record(&w->hist, now > t ? now - t : 0);
        }
      }
      if (w->counting) {
        w->messages += r;
        c->count += r;
      }
      if (c == w->sentinel && w->running) publish(w, r, now);
      break;
    }
    case R_IDLE:
      if (cfg.prime && !c->primed) {
        c->primed = 1;
        connected(w);
      }
      break;
    default:
      break;
  }
}

static void on_eof(worker_t *w, conn_t *c) {
  if (c->role == R_CHURN && c->state == S_OPEN) {
    if (c->closed_seen) {
      if (w->counting) w->handshakes++;
    } else note_error(w, "churn: connection closed without a close frame");
    kill_conn(w, c);
    return;
  }
  if (w->running || w->connecting) conn_fail(w, c, "connection closed by server");
  else kill_conn(w, c);
}

static void on_readable(worker_t *w, conn_t *c) {
  ssize_t n = recv(c->fd, w->rbuf, RBUF, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    if (w->running || w->connecting) conn_fail(w, c, strerror(errno));
    else kill_conn(w, c);
    return;
  }
  if (n == 0) {
    on_eof(w, c);
    return;
  }
  const uint8_t *p = w->rbuf;
  size_t len = (size_t)n;
  if (c->state == S_HANDSHAKE) {
    const char *h = (const char *)p;
    size_t hlen = len;
    if (c->resp != NULL) {
      if (c->resp_len + len > 16384) {
        conn_fail(w, c, "response head too large");
        return;
      }
      memcpy(c->resp + c->resp_len, p, len);
      c->resp_len += (uint32_t)len;
      h = c->resp;
      hlen = c->resp_len;
    }
    const char *end = memmem(h, hlen, "\r\n\r\n", 4);
    if (end == NULL) {
      if (c->resp == NULL) {
        c->resp = malloc(16384);
        if (c->resp == NULL) die("out of memory");
        memcpy(c->resp, p, len);
        c->resp_len = (uint32_t)len;
      }
      return;
    }
    size_t head_len = (size_t)(end - h) + 4;
    char why[200];
    const char *bad = check_response(h, head_len, why, sizeof why);
    if (bad != NULL) {
      conn_fail(w, c, bad);
      return;
    }
    /* Bytes after the head are frames: for a head in rbuf they follow it there. */
    size_t rest = hlen - head_len;
    p = p + len - rest;
    len = rest;
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
    on_upgraded(w, c);
    if (c->state != S_OPEN || len == 0) return;
  }
  uint32_t plain = 0;
  uint32_t r = count_frames(c, p, len, &plain);
  if (cfg.deflate && plain > 0 && w->running) note_error(w, "reply not compressed (RSV1 clear)");
  if (r > 0) on_messages(w, c, r);
}

static void on_event(worker_t *w, conn_t *c, uint32_t ev) {
  if (c->state == S_DEAD || c->state == S_FREE) return;
  if (c->state == S_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
    if (err != 0) {
      char why[160];
      snprintf(why, sizeof why, "connect failed: %s", strerror(err));
      conn_fail(w, c, why);
      return;
    }
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    c->state = S_HANDSHAKE;
    flush(w, c);
    return;
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(w, c);
  if ((ev & EPOLLOUT) && (c->state == S_OPEN || c->state == S_HANDSHAKE)) flush(w, c);
}

/* ---- the loop ------------------------------------------------------------- */

/* Waits up to `timeout_ns` (<0: forever) for events; ns precision where the kernel has epoll_pwait2. */
static int wait_events(worker_t *w, struct epoll_event *evs, int max, int64_t timeout_ns) {
#ifdef SYS_epoll_pwait2
  static int no_pwait2;
  if (!no_pwait2) {
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
      ts.tv_sec = timeout_ns / 1000000000;
      ts.tv_nsec = timeout_ns % 1000000000;
      tp = &ts;
    }
    int n = (int)syscall(SYS_epoll_pwait2, w->ep, evs, max, tp, NULL, 0);
    if (n >= 0 || errno != ENOSYS) return n;
    no_pwait2 = 1;
  }
#endif
  return epoll_wait(w->ep, evs, max, timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000));
}

static void launch(worker_t *w) {
  while (w->to_open > 0 && w->pending < cfg.connect_concurrency && !abort_all) {
    conn_t *c = &w->conns[w->nconns - w->to_open];
    w->to_open--;
    uint8_t role = cfg.mode == M_FANOUT ? R_SUB : cfg.mode == M_IDLE ? R_IDLE : R_DATA;
    if (open_conn(w, c, role, request, request_len) < 0) {
      w->fail = 1;
      abort_all = 1;
      return;
    }
    w->pending++;
  }
}

#define MAXEV 1024

static void reopen_churn(worker_t *w) {
  for (long i = 0; i < w->nreopen; i++) {
    conn_t *c = w->reopen[i];
    if (w->running && open_conn(w, c, R_CHURN, request, request_len) < 0) c->state = S_DEAD;
  }
  w->nreopen = 0;
}

static void connect_phase(worker_t *w) {
  struct epoll_event evs[MAXEV];
  w->connecting = 1;
  w->to_open = w->nconns;
  if (cfg.mode == M_CHURN) w->to_open = 0;
  if (w->pub != NULL) {
    if (open_conn(w, w->pub, R_PUB, pub_request, pub_request_len) < 0) w->fail = abort_all = 1;
    else w->pending++;
  }
  launch(w);
  uint64_t deadline = t_connect0 + (uint64_t)(60 + cfg.connections / 500) * 1000000000ull;
  while ((w->to_open > 0 || w->pending > 0) && !abort_all) {
    uint64_t now = now_ns();
    if (now >= deadline) {
      note_error(w, "connect phase timed out: %ld of %ld connections ready", w->ready, w->nconns);
      w->fail = abort_all = 1;
      break;
    }
    int n = wait_events(w, evs, MAXEV, 100000000);
    for (int i = 0; i < n; i++) on_event(w, evs[i].data.ptr, evs[i].events);
  }
  w->connecting = 0;
}

static uint64_t in_flight(worker_t *w) {
  uint64_t n = 0;
  for (long i = 0; i < w->nconns; i++) n += w->conns[i].rcount;
  return n;
}

static double thread_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void run_phase(worker_t *w) {
  struct epoll_event evs[MAXEV];
  double wrate = cfg.rate / cfg.threads;
  uint64_t now = now_ns();
  w->running = 1;
  if (cfg.mode == M_CHURN) {
    for (long i = 0; i < w->nconns; i++) {
      if (open_conn(w, &w->conns[i], R_CHURN, request, request_len) < 0) w->conns[i].state = S_DEAD;
    }
  } else if (cfg.mode == M_ECHO || cfg.mode == M_LATENCY) {
    long k = cfg.mode == M_LATENCY ? 1 : cfg.inflight;
    for (long i = 0; i < w->nconns; i++) {
      conn_t *c = &w->conns[i];
      if (c->state != S_OPEN) continue;
      for (long j = 0; j < k; j++) ring_push(c, now);
      c->owe = (uint64_t)k * frame_len;
      flush(w, c);
    }
  } else if (cfg.mode == M_FANOUT && w->pub != NULL) {
    publish(w, (uint32_t)cfg.inflight, now);
  }
  double cpu0 = 0;
  uint64_t last_sweep = now;
  while (!abort_all) {
    now = now_ns();
    if (!w->counting && now >= t_count) {
      w->counting = 1;
      w->win_start = now;
      w->backlog0 = in_flight(w);
      cpu0 = thread_cpu_s();
    }
    if (now >= t_end) break;
    int64_t timeout = (int64_t)(t_end - now);
    if (!w->counting && (int64_t)(t_count - now) < timeout) timeout = (int64_t)(t_count - now);
    if (cfg.mode == M_RATE && w->nconns > 0) {
      /* Open loop: message s is due at t_start + s / rate; all due by now are queued, stamped with when they were due. */
      uint64_t due = (uint64_t)((double)(now - t_start) * wrate / 1e9) + 1;
      while (w->scheduled < due) {
        conn_t *c = &w->conns[w->rr];
        w->rr = (w->rr + 1) % (uint64_t)w->nconns;
        uint64_t at = t_start + (uint64_t)((double)w->scheduled * 1e9 / wrate);
        w->scheduled++;
        if (c->state != S_OPEN || c->rcount == c->rcap) {
          if (w->counting) w->skipped++;
          continue;
        }
        ring_push(c, at);
        c->owe += frame_len;
        if (!c->dirty) {
          c->dirty = 1;
          w->dirty[w->ndirty++] = c;
        }
      }
      for (long i = 0; i < w->ndirty; i++) {
        w->dirty[i]->dirty = 0;
        if (w->dirty[i]->state == S_OPEN) flush(w, w->dirty[i]);
      }
      w->ndirty = 0;
      int64_t next = (int64_t)(t_start + (uint64_t)((double)w->scheduled * 1e9 / wrate)) - (int64_t)now;
      if (next < timeout) timeout = next < 0 ? 0 : next;
    }
    if (cfg.mode == M_CHURN && timeout > 100000000) timeout = 100000000;
    if (cfg.mode == M_CHURN && now - last_sweep > 100000000ull) {
      last_sweep = now;
      for (long i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if ((c->state == S_CONNECTING || c->state == S_HANDSHAKE || c->state == S_OPEN) && now - c->started > 5000000000ull) {
          note_error(w, "churn cycle timed out");
          kill_conn(w, c);
        }
      }
      reopen_churn(w);
    }
    int n = wait_events(w, evs, MAXEV, timeout);
    for (int i = 0; i < n; i++) on_event(w, evs[i].data.ptr, evs[i].events);
    if (w->nreopen > 0) reopen_churn(w);
  }
  w->win_end = now_ns();
  w->backlog1 = in_flight(w);
  if (!w->counting) {
    w->win_start = w->win_end;
    cpu0 = thread_cpu_s();
  }
  double wall = (double)(w->win_end - w->win_start) / 1e9;
  w->cpu = wall > 0 ? (thread_cpu_s() - cpu0) / wall : 0;
  w->running = 0;
  w->counting = 0;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  connect_phase(w);
  pthread_barrier_wait(&barrier); /* everyone connected (or failed) */
  pthread_barrier_wait(&barrier); /* the main thread has set the clock */
  if (abort_all || cfg.mode == M_IDLE) return NULL;
  run_phase(w);
  return NULL;
}

/* ---- setup, output -------------------------------------------------------- */

static void build_frames(void) {
  if (cfg.frame_file != NULL) {
    FILE *f = fopen(cfg.frame_file, "rb");
    if (f == NULL) die("cannot open --frame-file %s: %s", cfg.frame_file, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz < 6) die("--frame-file %s is not a frame", cfg.frame_file);
    frame = malloc((size_t)sz);
    if (frame == NULL || fread(frame, 1, (size_t)sz, f) != (size_t)sz) die("cannot read --frame-file");
    fclose(f);
    frame_len = (size_t)sz;
  } else {
    size_t len = (size_t)cfg.size;
    size_t head = len < 126 ? 2 : len < 65536 ? 4 : 10;
    frame_len = head + 4 + len;
    frame = malloc(frame_len);
    if (frame == NULL) die("out of memory");
    frame[0] = 0x80 | (cfg.binary ? 2 : 1);
    if (len < 126) frame[1] = 0x80 | (uint8_t)len;
    else if (len < 65536) {
      frame[1] = 0x80 | 126;
      frame[2] = (uint8_t)(len >> 8);
      frame[3] = (uint8_t)len;
    } else {
      frame[1] = 0x80 | 127;
      for (int i = 0; i < 8; i++) frame[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(frame + head, MASK, 4);
    for (size_t i = 0; i < len; i++) frame[head + 4 + i] = 'a' ^ MASK[i & 3];
  }
  size_t copies = (size_t)(cfg.inflight > 0 ? cfg.inflight : 1);
  if (copies * frame_len < 4096) copies = (4096 + frame_len - 1) / frame_len;
  batch_len = copies * frame_len;
  batch = malloc(batch_len);
  if (batch == NULL) die("out of memory");
  for (size_t i = 0; i < copies; i++) memcpy(batch + i * frame_len, frame, frame_len);
  /* RFC 6455 5.5.1: close with status 1000, masked. */
  close_frame[0] = 0x88;
  close_frame[1] = 0x82;
  memcpy(close_frame + 2, MASK, 4);
  close_frame[6] = 0x03 ^ MASK[0];
  close_frame[7] = 0xe8 ^ MASK[1];
}

static uint32_t build_request(char *out, size_t cap, const char *path) {
  char ext[600] = "";
  if (cfg.offer != NULL) snprintf(ext, sizeof ext, "Sec-WebSocket-Extensions: %s\r\n", cfg.offer);
  int n = snprintf(out, cap,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " CLIENT_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   path, cfg.host, cfg.port, ext);
  if (n < 0 || (size_t)n >= cap) die("request too long");
  return (uint32_t)n;
}

static void usage(void) {
  fprintf(stderr,
          "usage: xyra-load --port N [--host 127.0.0.1] [--path /] [--mode echo|latency|rate|fanout|churn|idle]\n"
          "  [--connections N] [--inflight K] [--size BYTES] [--binary] [--duration S] [--warmup S]\n"
          "  [--threads T] [--connect-concurrency C] [--pub-path /pub] [--rate MSG_PER_S] [--ramp-step N]\n"
          "  [--frame-file F] [--offer EXTENSIONS] [--deflate] [--prime]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, "--" name) == 0 && v != NULL && (i++, 1))
    if (strcmp(a, "--binary") == 0) cfg.binary = 1;
    else if (strcmp(a, "--deflate") == 0) cfg.deflate = 1;
    else if (strcmp(a, "--prime") == 0) cfg.prime = 1;
    else if (ARG("host")) cfg.host = v;
    else if (ARG("port")) cfg.port = atoi(v);
    else if (ARG("path")) cfg.path = v;
    else if (ARG("pub-path")) cfg.pub_path = v;
    else if (ARG("connections")) cfg.connections = atol(v);
    else if (ARG("inflight")) cfg.inflight = atol(v);
    else if (ARG("size")) cfg.size = atol(v);
    else if (ARG("duration")) cfg.duration = atof(v);
    else if (ARG("warmup")) cfg.warmup = atof(v);
    else if (ARG("threads")) cfg.threads = atoi(v);
    else if (ARG("connect-concurrency")) cfg.connect_concurrency = atol(v);
    else if (ARG("frame-file")) cfg.frame_file = v;
    else if (ARG("offer")) cfg.offer = v;
    else if (ARG("rate")) cfg.rate = atof(v);
    else if (ARG("ramp-step")) cfg.ramp_step = atol(v);
    else if (ARG("mode")) {
      int found = 0;
      for (int m = 0; m <= M_IDLE; m++)
        if (strcmp(v, MODE_NAMES[m]) == 0) {
          cfg.mode = (enum mode)m;
          found = 1;
        }
      if (!found) die("unknown --mode %s", v);
    } else usage();
#undef ARG
  }
  if (cfg.port <= 0 || cfg.port > 65535) die("--port is required (1..65535)");
  if (cfg.connections < 1) die("--connections must be >= 1");
  if (cfg.threads < 1 || cfg.threads > 64) die("--threads must be 1..64");
  if (cfg.threads > cfg.connections) cfg.threads = (int)cfg.connections;
  if (cfg.size < 0) die("--size must be >= 0");
  if (cfg.inflight < 1) cfg.inflight = 1;
  if (cfg.mode == M_LATENCY) cfg.inflight = 1;
  if (cfg.connect_concurrency < 1) cfg.connect_concurrency = 1;
  if (cfg.mode == M_RATE && !(cfg.rate > 0)) die("--mode rate needs --rate > 0");
  if (cfg.duration <= 0) die("--duration must be > 0");
  if (cfg.warmup < 0) cfg.warmup = 0;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)cfg.port);
  if (inet_pton(AF_INET, cfg.host, &addr.sin_addr) != 1) die("--host must be an IPv4 address, got %s", cfg.host);
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  long need = cfg.connections + 64;
  if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need)
    die("open-file limit %ld is below the %ld this run needs (ulimit -n)", (long)rl.rlim_cur, need);
}

static void print_percentiles(const hist_t *h) {
  printf("\"latency_us\":{\"count\":%llu", (unsigned long long)h->total);
  if (h->total > 0) {
    printf(",\"mean\":%.1f,\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"p9999\":%.0f,\"max\":%.0f", h->sum_us / (double)h->total,
           hist_percentile(h, 50), hist_percentile(h, 90), hist_percentile(h, 99), hist_percentile(h, 99.9), hist_percentile(h, 99.99),
           (double)h->max_ns / 1000.0);
  }
  printf("}");
}

static void print_ramp(void) {
  printf("\"ramp\":[");
  for (long i = 0; i < ramp_len; i++) {
    if (ramp_ns[i] == 0) break;
    printf("%s[%ld,%.3f]", i ? "," : "", (i + 1) * cfg.ramp_step, (double)ramp_ns[i] / 1e6);
  }
  printf("]");
}

static const char *first_error(void) {
  for (int i = 0; i < cfg.threads; i++)
    if (workers[i].first_error[0]) return workers[i].first_error;
  return NULL;
}

static void print_result(double connect_ms) {
  hist_t all = {calloc(HSIZE, sizeof(uint32_t)), 0, 0, 0};
  if (all.c == NULL) die("out of memory");
  uint64_t messages = 0, handshakes = 0, errors = 0, skipped = 0, backlog0 = 0, backlog1 = 0;
  double msg_rate = 0, hs_rate = 0, elapsed = 0;
  uint64_t cmin = UINT64_MAX, cmax = 0, zero = 0, ndata = 0;
  double csum = 0;
  for (int i = 0; i < cfg.threads; i++) {
    worker_t *w = &workers[i];
    double s = (double)(w->win_end - w->win_start) / 1e9;
    messages += w->messages;
    handshakes += w->handshakes;
    errors += w->errors;
    skipped += w->skipped;
    backlog0 += w->backlog0;
    backlog1 += w->backlog1;
    if (s > 0) {
      msg_rate += (double)w->messages / s;
      hs_rate += (double)w->handshakes / s;
    }
    if (s > elapsed) elapsed = s;
    for (size_t k = 0; k < HSIZE; k++) all.c[k] += w->hist.c[k];
    all.total += w->hist.total;
    all.sum_us += w->hist.sum_us;
    if (w->hist.max_ns > all.max_ns) all.max_ns = w->hist.max_ns;
    for (long k = 0; k < w->nconns; k++) {
      conn_t *c = &w->conns[k];
      if (c->role != R_DATA && c->role != R_SUB) continue;
      ndata++;
      csum += (double)c->count;
      if (c->count < cmin) cmin = c->count;
      if (c->count > cmax) cmax = c->count;
      if (c->count == 0) zero++;
    }
  }
  printf("{\"event\":\"result\",\"mode\":\"%s\",\"connections\":%ld,\"threads\":%d,\"inflight\":%ld,\"frame_bytes\":%zu,", MODE_NAMES[cfg.mode],
         cfg.connections, cfg.threads, cfg.inflight, frame_len);
  printf("\"elapsed_ms\":%.1f,\"connect_ms\":%.1f,\"messages\":%llu,\"msg_per_sec\":%.1f,\"handshakes\":%llu,\"handshakes_per_sec\":%.1f,", elapsed * 1000,
         connect_ms, (unsigned long long)messages, msg_rate, (unsigned long long)handshakes, hs_rate);
  printf("\"errors\":%llu,\"first_error\":", (unsigned long long)errors);
  const char *fe = first_error();
  if (fe) json_string(stdout, fe);
  else printf("null");
  printf(",\"cpu\":[");
  for (int i = 0; i < cfg.threads; i++) printf("%s%.3f", i ? "," : "", workers[i].cpu);
  printf("],");
  print_percentiles(&all);
  printf(",\"per_conn\":{\"n\":%llu,\"min\":%llu,\"max\":%llu,\"mean\":%.1f,\"zero\":%llu}", (unsigned long long)ndata,
         (unsigned long long)(ndata ? cmin : 0), (unsigned long long)cmax, ndata ? csum / (double)ndata : 0.0, (unsigned long long)zero);
  if (cfg.mode == M_RATE)
    printf(",\"rate\":{\"offered\":%.1f,\"skipped\":%llu,\"backlog_start\":%llu,\"backlog_end\":%llu}", cfg.rate, (unsigned long long)skipped,
           (unsigned long long)backlog0, (unsigned long long)backlog1);
  printf("}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv);
  raise_fd_limit();
  build_frames();
  request_len = build_request(request, sizeof request, cfg.path);
  pub_request_len = build_request(pub_request, sizeof pub_request, cfg.pub_path);
  if (cfg.ramp_step > 0) {
    ramp_len = cfg.connections / cfg.ramp_step;
    ramp_ns = calloc((size_t)ramp_len + 1, sizeof(uint64_t));
  }
  workers = calloc((size_t)cfg.threads, sizeof(worker_t));
  if (workers == NULL) die("out of memory");
  uint32_t rcap = cfg.mode == M_RATE ? 4096 : (cfg.mode == M_ECHO || cfg.mode == M_LATENCY) ? (uint32_t)cfg.inflight : 0;
  for (int i = 0; i < cfg.threads; i++) {
    worker_t *w = &workers[i];
    w->id = i;
    w->nconns = cfg.connections / cfg.threads + (i < cfg.connections % cfg.threads ? 1 : 0);
    w->conns = calloc((size_t)w->nconns, sizeof(conn_t));
    w->rbuf = malloc(RBUF);
    w->dirty = calloc((size_t)w->nconns + 1, sizeof(conn_t *));
    w->reopen = calloc((size_t)w->nconns + 1, sizeof(conn_t *));
    w->hist.c = calloc(HSIZE, sizeof(uint32_t));
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!w->conns || !w->rbuf || !w->dirty || !w->reopen || !w->hist.c || w->ep < 0) die("out of memory");
    for (long k = 0; k < w->nconns; k++) {
      w->conns[k].fd = -1;
      w->conns[k].rcap = rcap;
      if (rcap > 0) {
        w->conns[k].ring = malloc(rcap * sizeof(uint64_t));
        if (w->conns[k].ring == NULL) die("out of memory");
      }
    }
    if (cfg.mode == M_FANOUT && i == 0) {
      w->pub = calloc(1, sizeof(conn_t));
      w->pub->fd = -1;
      w->sentinel = &w->conns[0];
    }
  }
  if (pthread_barrier_init(&barrier, NULL, (unsigned)cfg.threads + 1) != 0) die("pthread_barrier_init failed");
  t_connect0 = now_ns();
  for (int i = 0; i < cfg.threads; i++)
    if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0) die("pthread_create failed");
  pthread_barrier_wait(&barrier);
  double connect_ms = (double)(now_ns() - t_connect0) / 1e6;
  t_start = now_ns();
  t_count = t_start + (uint64_t)(cfg.warmup * 1e9);
  t_end = t_count + (uint64_t)(cfg.duration * 1e9);
  pthread_barrier_wait(&barrier);
  if (abort_all) {
    for (int i = 0; i < cfg.threads; i++) pthread_join(workers[i].th, NULL);
    const char *fe = first_error();
    die("%s", fe ? fe : "connect phase failed");
  }
  if (cfg.mode == M_IDLE) {
    for (int i = 0; i < cfg.threads; i++) pthread_join(workers[i].th, NULL);
    printf("{\"event\":\"ready\",\"connections\":%ld,\"connect_ms\":%.1f,", cfg.connections, connect_ms);
    print_ramp();
    printf("}\n");
    fflush(stdout);
    /* Hold until told to release (or the parent goes away). */
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL)
      if (strncmp(line, "release", 7) == 0) break;
    for (int i = 0; i < cfg.threads; i++)
      for (long k = 0; k < workers[i].nconns; k++)
        if (workers[i].conns[k].fd >= 0) close(workers[i].conns[k].fd);
    printf("{\"event\":\"released\"}\n");
    fflush(stdout);
    return 0;
  }
  for (int i = 0; i < cfg.threads; i++) pthread_join(workers[i].th, NULL);
  print_result(connect_ms);
  return 0;
}
