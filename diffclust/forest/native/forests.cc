// The partial Fenchel-Young loss's Monte-Carlo samples on a CPU: per sample its noise, the
// free and the label-constrained forest of W0 + sigma Z, the gap of their weights and their
// edges.
//
// A port of noise.py's generator, of batched.py and of the chunk loop of loss.py's `_batched`
// (read them first: the semantics, ties included, are defined there, and the tests hold the two
// equal, noise bit for bit). XLA:CPU runs each of Prim's n steps as a dozen kernels over the
// whole batch; here pairs of samples are generated and solved start to end in cache, spread
// over the CPU's cores.
//
// Inputs: words (3,) uint32 of the key, first (1,) the chunk's first pair, W0 (n, n) prepared
// weights (diagonal -inf), sigma, classes (n,) labelled.py's classes, k, valid (2,): how many
// even and odd samples count. Attribute `pairs` P. Sample s < P is the even sample of pair
// first + s, P + s the odd one. Outputs: gap (2P,) F(free) - F(constrained), 0 where the two
// forests are the same or the sample does not count; edges (n, n) int32, the number of counted
// free forests holding each edge minus that of constrained ones (symmetric).

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kLow = std::numeric_limits<float>::lowest();
// The largest n: each thread holds 2 kPairs perturbed matrices of n^2 floats (24 MB at 1024).
// Beyond it the per-sample solvers in JAX are as fast (loss.py).
constexpr int64_t kMaxVertices = 1024;

// --- noise.py, bit for bit ------------------------------------------------------------------
// XLA:CPU contracts every multiply feeding an add into a fused multiply-add inside its fused
// kernels: so do these (std::fma), and nothing else does (-ffp-contract=off). Tested equal over
// all 2^23 radii and all 2^23 angles.

inline uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  return x ^ (x >> 16);
}

constexpr float kLog[] = {7.0376836292e-2f,  -1.1514610310e-1f, 1.1676998740e-1f,
                          -1.2420140846e-1f, 1.4249322787e-1f,  -1.6668057665e-1f,
                          2.0000714765e-1f,  -2.4999993993e-1f, 3.3333331174e-1f};
// noise.py's _SIN, _COS: sin(pi f / 2) / f and cos(pi f / 2) as polynomials in f^2.
constexpr float kSin[] = {0.00015186275413725525f, -0.004674552474170923f,
                          0.07969020307064056f, -0.6459638476371765f, 1.5707963705062866f};
constexpr float kCos[] = {0.000859465915709734f, -0.020813362672924995f, 0.2536526620388031f,
                          -1.2336987257003784f, 1.0f};

template <int kTerms>
inline float Horner(const float* c, float x) {
  float p = c[0];
  for (int i = 1; i < kTerms; ++i) p = std::fma(p, x, c[i]);
  return p;
}

inline float Log(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int32_t exponent = (bits >> 23) - 127;
  const int32_t mantissa_bits = (bits & 0x007FFFFF) | 0x3F800000;
  float m;
  std::memcpy(&m, &mantissa_bits, sizeof m);
  const bool big = m > 1.41421356f;
  m = big ? 0.5f * m : m;
  exponent = big ? exponent + 1 : exponent;
  const float f = m - 1.0f, z = f * f;
  const float y = std::fma(f * z, Horner<9>(kLog, f), -0.5f * z);
  return std::fma(static_cast<float>(exponent), 0.6931471805599453f, f + y);
}

// noise.py's box_muller: two normals from two words.
inline float Uniform(uint32_t bits, float scale) {
  return (static_cast<float>(bits >> 9) + 0.5f) * (scale / 8388608.0f);
}

inline void BoxMuller(uint32_t bits_u, uint32_t bits_t, float& x, float& y) {
  const float r = std::sqrt(-2.0f * Log(Uniform(bits_u, 1.0f)));
  const float turns = Uniform(bits_t, 4.0f);  // quarter turns, [0, 4)
  const int32_t quarter = static_cast<int32_t>(turns);
  const float f = turns - static_cast<float>(quarter), g = f * f;
  const float sin = f * Horner<5>(kSin, g), cos = Horner<5>(kCos, g);
  const float c = quarter == 0 ? cos : quarter == 1 ? -sin : quarter == 2 ? -cos : sin;
  const float s = quarter == 0 ? sin : quarter == 1 ? cos : quarter == 2 ? -sin : -cos;
  x = r * c;
  y = r * s;
}

struct Key {
  uint32_t words[3];
  inline uint32_t PairWord(int64_t pair) const {
    return Mix(static_cast<uint32_t>(pair) + words[1]);
  }
  // The first round depends on the counter alone: tables of it serve every pair.
  inline uint32_t Counter(uint32_t counter) const { return Mix(counter ^ words[0]); }
  inline uint32_t Bits(uint32_t pair_word, uint32_t mixed) const {
    return Mix(Mix(mixed ^ pair_word) + words[2]);
  }
  // The normals of edge (lo, hi), lo < hi, for the pair's even and odd sample.
  inline void Edge(uint32_t pair_word, uint32_t mixed_u, uint32_t mixed_t, float& even,
                   float& odd) const {
    BoxMuller(Bits(pair_word, mixed_u), Bits(pair_word, mixed_t), even, odd);
  }
};

// --- the samples ----------------------------------------------------------------------------

struct Problem {
  Key key;
  int64_t first;  // the chunk's first pair
  const float* W0;
  float sigma;
  const int32_t* classes;
  int64_t n, pairs, k;
  int64_t valid[2];  // counted samples: even ones s < valid[0], odd ones s - P < valid[1]
  int32_t num_labelled;
};

// One register of floats or ints: 16 lanes with AVX-512, 8 with AVX, 4 otherwise. GCC splits a
// vector wider than the target's registers into pieces and spills them to the stack (measured
// on an AVX2 EPYC, per 1000 samples: 16 lanes 61 ms, 8 lanes 23 ms, and 5.6 ms once the noise
// loop is vectorised too: -fno-trapping-math in native/__init__.py). Per-vertex
// arrays are padded to whole vectors. No result depends on the width: a sweep finds per lane its
// first largest key, and Choose takes the first index of the largest across the lanes.
#if defined(__AVX512F__)
constexpr int64_t kLanes = 16;
#elif defined(__AVX__)
constexpr int64_t kLanes = 8;
#else
constexpr int64_t kLanes = 4;
#endif
typedef float VecF __attribute__((vector_size(4 * kLanes)));
typedef int32_t VecI __attribute__((vector_size(4 * kLanes)));

inline VecF LoadF(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline VecI LoadI(const int32_t* p) {
  VecI v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void Store(float* p, VecF v) { std::memcpy(p, &v, sizeof v); }
inline void Store(int32_t* p, VecI v) { std::memcpy(p, &v, sizeof v); }
inline VecF SplatF(float x) { return VecF{} + x; }
inline VecI SplatI(int32_t x) { return VecI{} + x; }

// Largest lane, and the smallest `where` among the lanes that hold it: a shuffle tree.
template <typename V, typename F>
inline V Tree(V x, F op) {
#if defined(__AVX512F__)
  x = op(x, __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  x = op(x, __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  x = op(x, __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
  x = op(x, __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
#elif defined(__AVX__)
  x = op(x, __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3));
  x = op(x, __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5));
  x = op(x, __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6));
#else
  x = op(x, __builtin_shufflevector(x, x, 2, 3, 0, 1));
  x = op(x, __builtin_shufflevector(x, x, 1, 0, 3, 2));
#endif
  return x;
}

// Lane indices 0, 1, ..., kLanes - 1.
inline VecI LaneIndex() {
  VecI lane;
  for (int i = 0; i < kLanes; ++i) lane[i] = i;
  return lane;
}

// The chosen vertex of a step: the largest key that may be chosen, ties to the first index
// (per lane the first index of the lane's largest, then across lanes). NaN keys give vertex
// 0, as batched.py's clipped index.
inline int32_t Choose(VecF best, VecI where, float* value) {
  const VecF top = Tree(best, [](VecF a, VecF b) { return a > b ? a : b; });
  const VecI none = SplatI(std::numeric_limits<int32_t>::max());
  const VecI first = Tree(best == top ? where : none, [](VecI a, VecI b) { return a < b ? a : b; });
  *value = top[0];
  return first[0] == none[0] ? 0 : first[0];
}

// The Prim passes of three pairs (free and constrained, even and odd sample of each) run in
// lockstep: each step of one pass is a short chain of dependent instructions (choose, read the
// row, sweep), so interleaving twelve independent chains keeps the core busy (measured: 4
// passes 4.9 ms, 8 passes 4.3, 12 passes 4.0, 16 passes 4.3 of one core per 1000 samples).
constexpr int kPairs = 3;
constexpr int kPasses = 4 * kPairs;

// One pass's state; per-vertex arrays hold `stride` entries (whole vectors).
struct PassState {
  explicit PassState(int64_t n, int64_t stride)
      : key(stride), parent(stride), blocked(stride), classes(stride), order(n), joined(n) {}
  std::vector<float> key;
  std::vector<int32_t> parent, blocked, classes;  // classes: -1 everywhere in a free pass
  std::vector<int32_t> order;
  std::vector<float> joined;
  const float* W = nullptr;  // the sample's perturbed matrix
  bool odd = false, with_classes = false;
  int32_t num_labelled = 0;
  VecF best;
  VecI where;
};

// Scratch space of one thread, reused across its pairs.
struct Scratch {
  Scratch(const Problem& pr, int64_t stride)
      : stride(stride), tier(pr.n), candidates(pr.n), labels(pr.n), owner(pr.n) {
    const int64_t n = pr.n;
    // The upper triangle's edges (i < j) in row order: counter i n + j for the radius, j n + i
    // for the angle.
    for (int s = 0; s < 2; ++s) {
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = i + 1; j < n; ++j) {
          mixed[s].push_back(pr.key.Counter(static_cast<uint32_t>(s == 0 ? i * n + j : j * n + i)));
        }
      }
      normals[s].resize(mixed[s].size());
    }
    counts.resize(n * n);
    for (auto& W : Ws) W.resize(n * stride);  // [2 slot + odd]
    for (int g = 0; g < kPasses; ++g) {
      passes.emplace_back(n, stride);
      weight[g].resize(n);
      parent[g].resize(n);
      keep[g].resize(n);
    }
  }
  int64_t stride;
  std::vector<float> Ws[2 * kPairs];
  std::vector<uint32_t> mixed[2];  // first hash round of the upper edges' counters
  std::vector<float> normals[2];    // their normals for the pair at hand
  std::vector<int32_t> counts;   // this block's edge counts
  // Per pair slot: [even free, even constrained, odd free, odd constrained].
  std::vector<PassState> passes;
  std::vector<float> weight[kPasses];
  std::vector<int32_t> parent[kPasses];
  std::vector<uint8_t> keep[kPasses];
  std::vector<int32_t> tier, candidates, labels, owner;
};

// W's strict lower triangle from its upper one, in 8 x 8 blocks transposed in registers: a
// column read element by element is the costliest part of a pair's matrices on AVX2 (it leaves
// L1 for each row); the blocks on the diagonal and the rows past the last whole block go one by
// one.
typedef float Vec8 __attribute__((vector_size(32)));

inline void Transpose8(const float* from, float* to, int64_t m) {
  Vec8 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], from + i * m, sizeof(Vec8));
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    for (int h = 0; h < 2; ++h) {
      u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  }
  for (int c = 0; c < 4; ++c) {
    const Vec8 low = __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    const Vec8 high = __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    std::memcpy(to + c * m, &low, sizeof(Vec8));
    std::memcpy(to + (c + 4) * m, &high, sizeof(Vec8));
  }
}

inline void MirrorUpper(float* W, int64_t n, int64_t m) {
  const int64_t whole = n / 8 * 8;
  for (int64_t bi = 0; bi < whole; bi += 8) {
    for (int64_t bj = 0; bj < bi; bj += 8) Transpose8(W + bj * m + bi, W + bi * m + bj, m);
  }
  for (int64_t i = 1; i < n; ++i) {  // what the blocks left: their diagonal, the last rows
    for (int64_t j = i < whole ? i / 8 * 8 : 0; j < i; ++j) W[i * m + j] = W[j * m + i];
  }
}

// Both perturbed matrices of pair p, rows of `stride` floats, padding -inf: W0 + sigma Z with Z
// the upper triangle of the pair's square of normals X_p (noise.py's pair_square) for the even
// sample, its lower triangle for the odd one. Each normal is generated once, for the upper
// triangle of its matrix; the lower triangles are mirrored. The product is rounded before the
// sum, as XLA computes W0 + sigma * Z.
void PairWeights(const Problem& pr, int64_t p, int slot, Scratch& sc) {
  const int64_t n = pr.n, m = sc.stride, edges = n * (n - 1) / 2;
  const uint32_t pair_word = pr.key.PairWord(p);
  // The normals of the upper triangle's edges, in row order: one long vector loop.
  const uint32_t* mixed_u = sc.mixed[0].data();
  const uint32_t* mixed_t = sc.mixed[1].data();
  float* even = sc.normals[0].data();
  float* odd = sc.normals[1].data();
  for (int64_t e = 0; e < edges; ++e) {
    pr.key.Edge(pair_word, mixed_u[e], mixed_t[e], even[e], odd[e]);
  }
  for (int s = 0; s < 2; ++s) {
    float* W = sc.Ws[2 * slot + s].data();
    const float* z = sc.normals[s].data();
    for (int64_t i = 0, e = 0; i < n; e += n - 1 - i, ++i) {
      const float* w0 = pr.W0 + i * n;
      float* row = W + i * m;
      for (int64_t j = i + 1; j < n; ++j) row[j] = w0[j] + pr.sigma * z[e + j - i - 1];
      row[i] = w0[i];  // the -inf diagonal (+ sigma 0)
      std::fill(row + n, row + m, -kInf);
    }
    MirrorUpper(W, n, m);
  }
}

// One step's sweep of a pass over the chosen vertex v's row: keys and parents updated, the
// next choice found (per lane the first index of the lane's largest choosable key).
template <bool kClasses>
inline void Sweep(PassState& ps, const float* row, int32_t v, int64_t m) {
  const VecF inf = SplatF(kInf), minus_inf = SplatF(-kInf), low = SplatF(kLow);
  const VecI lane = LaneIndex();
  float* key = ps.key.data();
  int32_t* parent = ps.parent.data();
  const int32_t* classes = ps.classes.data();
  const int32_t* blocked = ps.blocked.data();
  const VecI class_v = SplatI(classes[v]), vertex_v = SplatI(v);
  VecF best = minus_inf;
  VecI where = SplatI(0);
  for (int64_t j = 0; j < m; j += kLanes) {
    VecF r = LoadF(row + j);
    if (kClasses) {
      const VecI c = LoadI(classes + j);
      r = ((c >= 0) & (c != class_v)) ? low : r;
    }
    const VecF old = LoadF(key + j);
    const VecI closer = r > old;
    const VecF updated = closer ? r : old;
    Store(key + j, updated);
    Store(parent + j, closer ? vertex_v : LoadI(parent + j));
    VecI skip = updated == inf;
    if (kClasses) skip |= LoadI(blocked + j) != 0;
    const VecF choice = skip ? minus_inf : updated;
    const VecI better = choice > best;
    best = better ? choice : best;
    where = better ? lane + static_cast<int32_t>(j) : where;
  }
  ps.best = best;
  ps.where = where;
}

// batched.py's prim_both for the four passes of each of `count` pairs: free passes from vertex 0, constrained
// ones labelled.py's two phases (phase 1 chooses among labelled vertices only, and their keys
// only see edges inside their class). Each step is one sweep over the chosen row that also
// finds the next vertex; padding vertices start in the tree (+inf), never chosen.
void PrimPasses(const Problem& pr, int count, Scratch& sc) {
  const int64_t n = pr.n, m = sc.stride;
  const int passes = 4 * count;
  const bool none = pr.num_labelled == 0;
  const VecF inf = SplatF(kInf), minus_inf = SplatF(-kInf);
  const VecI lane = LaneIndex();
  auto row_of = [&](PassState& ps, int64_t v) -> const float* { return ps.W + v * m; };
  for (int g = 0; g < passes; ++g) {
    PassState& ps = sc.passes[g];
    ps.odd = g % 4 >= 2;
    ps.with_classes = (g % 2 == 1) && !none;
    ps.num_labelled = ps.with_classes ? pr.num_labelled : 0;
    ps.W = sc.Ws[2 * (g / 4) + ps.odd].data();
    const float* row0 = ps.with_classes ? nullptr : row_of(ps, 0);
    for (int64_t j = 0; j < m; ++j) {
      const int32_t c = j < n ? pr.classes[j] : -1;
      ps.classes[j] = ps.with_classes ? c : -1;
      if (ps.with_classes) {
        ps.key[j] = j >= n ? kInf : (c >= 0 ? kLow : -kInf);
        ps.parent[j] = static_cast<int32_t>(j);
        ps.blocked[j] = c < 0;
      } else {
        ps.key[j] = j == 0 || j >= n ? kInf : row0[j];
        ps.parent[j] = 0;
        ps.blocked[j] = 0;
      }
    }
    // The first choice, as the sweeps below make the others. A lane never beaten keeps index
    // 0 of its -inf: equal to the other lanes then, the first index wins.
    ps.best = minus_inf;
    ps.where = SplatI(0);
    for (int64_t j = 0; j < m; j += kLanes) {
      const VecF k = LoadF(ps.key.data() + j);
      const VecF choice = ((k == inf) | (LoadI(ps.blocked.data() + j) != 0)) ? minus_inf : k;
      const VecI better = choice > ps.best;
      ps.best = better ? choice : ps.best;
      ps.where = better ? lane + static_cast<int32_t>(j) : ps.where;
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    const float* rows[kPasses];
    int32_t chosen[kPasses];
    for (int g = 0; g < passes; ++g) {
      PassState& ps = sc.passes[g];
      float value;
      const int32_t v = Choose(ps.best, ps.where, &value);
      chosen[g] = v;
      ps.order[t] = v;
      ps.joined[t] = value;
      ps.key[v] = kInf;  // row[v] is W's -inf diagonal: the sweep never lowers it
      if (t + 1 == ps.num_labelled) std::fill(ps.blocked.begin(), ps.blocked.end(), 0);
      rows[g] = row_of(ps, v);
    }
    for (int g = 0; g < passes; ++g) {
      PassState& ps = sc.passes[g];
      if (ps.with_classes) {
        Sweep<true>(ps, rows[g], chosen[g], m);
      } else {
        Sweep<false>(ps, rows[g], chosen[g], m);
      }
    }
  }
  for (int g = 0; g < passes; ++g) {
    PassState& ps = sc.passes[g];
    const int64_t steps = ps.with_classes ? n : n - 1;
    std::copy(ps.parent.begin(), ps.parent.begin() + n, sc.parent[g].begin());
    std::fill(sc.weight[g].begin(), sc.weight[g].end(), kInf);
    for (int64_t t = 0; t < steps; ++t) sc.weight[g][ps.order[t]] = ps.joined[t];
  }
}

// batched.py's _drop_lightest for one forest: drops the `count` existing edges that come first
// in the order (tier, weight, index) ascending, the index descending when `descending_index`.
void DropLightest(int64_t n, const int32_t* tier, const float* weight, bool descending_index,
                  int64_t count, int32_t* first_edges, uint8_t* keep) {
  auto first = [&](int32_t a, int32_t b) {
    if (tier[a] != tier[b]) return tier[a] < tier[b];
    if (weight[a] != weight[b]) return weight[a] < weight[b];
    return descending_index ? a > b : a < b;
  };
  // The `count` first existing edges, kept sorted in a short array (count is about k).
  int64_t held = 0;
  for (int64_t j = 0; j < n; ++j) {
    keep[j] = tier[j] > 0;
    if (!keep[j] || count == 0) continue;
    const int32_t e = static_cast<int32_t>(j);
    if (held == count && !first(e, first_edges[held - 1])) continue;
    int64_t at = held < count ? held++ : held - 1;
    for (; at > 0 && first(e, first_edges[at - 1]); --at) first_edges[at] = first_edges[at - 1];
    first_edges[at] = e;
  }
  for (int64_t i = 0; i < held; ++i) keep[first_edges[i]] = 0;
}

// constrained.py's _satisfies_labels of a free forest: every labelled class inside one
// component and no component holding two classes.
bool FreeSatisfies(const Problem& pr, Scratch& sc, int g) {
  const int64_t n = pr.n;
  const int32_t* parent = sc.parent[g].data();
  const uint8_t* keep = sc.keep[g].data();
  const int32_t* order = sc.passes[g].order.data();
  int32_t* label = sc.labels.data();
  int32_t* owner = sc.owner.data();  // the class found in each component, -1 none yet
  // Prim adds a vertex after its parent, so labels follow the order of addition.
  label[0] = 0;
  for (int64_t t = 0; t < n - 1; ++t) {
    const int32_t v = order[t];
    label[v] = keep[v] ? label[parent[v]] : v;
  }
  std::fill(owner, owner + n, -1);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t c = pr.classes[j];
    if (c < 0) continue;
    if (label[j] != label[c]) return false;  // c is the class's first vertex
    if (owner[label[j]] >= 0 && owner[label[j]] != c) return false;
    owner[label[j]] = c;
  }
  return true;
}

// The sample of passes (g, g + 1) (free, constrained), local index s: drops the lightest
// edges, then its gap, its edges counted in sc.counts.
float SampleGap(const Problem& pr, int g, int64_t s, Scratch& sc) {
  const int64_t n = pr.n;
  const bool none = pr.num_labelled == 0;
  const bool odd = g % 4 >= 2;
  if (s >= pr.valid[odd]) return 0.0f;
  for (int f = g; f < g + 2; ++f) {
    const bool constrained = f == g + 1;
    const int32_t* parent = sc.parent[f].data();
    int64_t existing = 0;
    for (int64_t j = 0; j < n; ++j) {
      const bool labelled = pr.classes[j] >= 0;
      bool exists = j != 0;
      if (constrained) exists = labelled ? parent[j] != j : !(labelled || (j == 0 && none));
      sc.tier[j] = exists ? (constrained && labelled ? 2 : 1) : 0;
      existing += exists;
    }
    const int64_t count = constrained ? existing - (n - pr.k) : pr.k - 1;
    DropLightest(n, sc.tier.data(), sc.weight[f].data(), constrained,
                 std::max<int64_t>(count, 0), sc.candidates.data(), sc.keep[f].data());
    // A free forest that satisfies the labels is the constrained optimum: the sample adds 0.
    if (!constrained && FreeSatisfies(pr, sc, g)) return 0.0f;
  }
  const bool same =
      std::equal(sc.keep[g].begin(), sc.keep[g].end(), sc.keep[g + 1].begin()) &&
      std::equal(sc.parent[g].begin(), sc.parent[g].end(), sc.parent[g + 1].begin());
  if (same) return 0.0f;
  float totals[2];
  for (int f = 0; f < 2; ++f) {
    const uint8_t* keep = sc.keep[g + f].data();
    const float* weight = sc.weight[g + f].data();
    const int32_t* parent = sc.parent[g + f].data();
    float total = 0.0f;
    for (int64_t j = 0; j < n; ++j) total += keep[j] ? weight[j] : 0.0f;
    totals[f] = 2.0f * total;
    const int32_t sign = f == 0 ? 1 : -1;
    for (int64_t j = 0; j < n; ++j) {
      if (!keep[j]) continue;
      sc.counts[j * n + parent[j]] += sign;
      sc.counts[parent[j] * n + j] += sign;
    }
  }
  return totals[0] - totals[1];
}

// Pairs in blocks, taken from a shared counter by the calling thread and by helper threads
// started for this call and joined before it returns: nothing of a call outlives it.
struct Work {
  std::atomic<int64_t> next{0};
  std::mutex merge;
};

ffi::Error LossSamplesImpl(ffi::Buffer<ffi::U32> words,
                           ffi::Buffer<ffi::S32> first, ffi::Buffer<ffi::F32> W0,
                           ffi::Buffer<ffi::F32> sigma, ffi::Buffer<ffi::S32> classes,
                           ffi::Buffer<ffi::S32> k, ffi::Buffer<ffi::S32> valid, int64_t pairs,
                           ffi::ResultBuffer<ffi::F32> gap, ffi::ResultBuffer<ffi::S32> edges) {
  const auto dims = W0.dimensions();
  if (dims.size() != 2 || dims[0] != dims[1]) {
    return ffi::Error::InvalidArgument("W0 must have shape (n, n)");
  }
  const int64_t n = dims[0];
  if (n > kMaxVertices) return ffi::Error::InvalidArgument("n above the kernel's limit");
  int32_t num_labelled = 0;
  for (int64_t j = 0; j < n; ++j) num_labelled += classes.typed_data()[j] >= 0;
  const uint32_t* w = words.typed_data();
  const Problem pr{Key{{w[0], w[1], w[2]}},
                   first.typed_data()[0],
                   W0.typed_data(),
                   sigma.typed_data()[0],
                   classes.typed_data(),
                   n,
                   pairs,
                   std::clamp<int64_t>(k.typed_data()[0], 1, n),
                   {valid.typed_data()[0], valid.typed_data()[1]},
                   num_labelled};
  float* gaps = gap->typed_data();
  int32_t* counts = edges->typed_data();
  std::fill(counts, counts + n * n, 0);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(9, pairs / 16));
  const int64_t blocks = (pairs + block - 1) / block;
  Work work;
  auto run = [&pr, gaps, counts, block, blocks, &work]() {
    std::unique_ptr<Scratch> scratch;
    for (int64_t b; (b = work.next.fetch_add(1)) < blocks;) {
      if (!scratch) scratch = std::make_unique<Scratch>(pr, (pr.n + kLanes - 1) / kLanes * kLanes);
      Scratch& sc = *scratch;
      const int64_t end = std::min(pr.pairs, (b + 1) * block);
      for (int64_t s = b * block; s < end; s += kPairs) {
        const int count = static_cast<int>(std::min<int64_t>(kPairs, end - s));
        for (int q = 0; q < count; ++q) PairWeights(pr, pr.first + s + q, q, sc);
        PrimPasses(pr, count, sc);
        for (int q = 0; q < count; ++q) {
          gaps[s + q] = SampleGap(pr, 4 * q, s + q, sc);
          gaps[pr.pairs + s + q] = SampleGap(pr, 4 * q + 2, s + q, sc);
        }
      }
      {
        std::lock_guard<std::mutex> lock(work.merge);
        for (int64_t i = 0; i < static_cast<int64_t>(sc.counts.size()); ++i) {
          counts[i] += sc.counts[i];
        }
      }
      std::fill(sc.counts.begin(), sc.counts.end(), 0);
    }
  };
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  std::vector<std::thread> helpers;
  for (int64_t h = 0; h < std::min(cores, blocks) - 1; ++h) helpers.emplace_back(run);
  run();
  for (auto& helper : helpers) helper.join();
  return ffi::Error::Success();
}

// noise.py's box_muller of every pair of words (for the tests: the two agree bit for bit).
ffi::Error BoxMullerImpl(ffi::Buffer<ffi::U32> bits_u, ffi::Buffer<ffi::U32> bits_t,
                         ffi::ResultBuffer<ffi::F32> x, ffi::ResultBuffer<ffi::F32> y) {
  for (size_t i = 0; i < bits_u.element_count(); ++i) {
    BoxMuller(bits_u.typed_data()[i], bits_t.typed_data()[i], x->typed_data()[i],
              y->typed_data()[i]);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(DiffclustBoxMuller, BoxMullerImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(DiffclustLossSamples, LossSamplesImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()  // words
                                  .Arg<ffi::Buffer<ffi::S32>>()  // first pair
                                  .Arg<ffi::Buffer<ffi::F32>>()  // W0
                                  .Arg<ffi::Buffer<ffi::F32>>()  // sigma
                                  .Arg<ffi::Buffer<ffi::S32>>()  // classes
                                  .Arg<ffi::Buffer<ffi::S32>>()  // k
                                  .Arg<ffi::Buffer<ffi::S32>>()  // even, odd samples counted
                                  .Attr<int64_t>("pairs")
                                  .Ret<ffi::Buffer<ffi::F32>>()  // gap
                                  .Ret<ffi::Buffer<ffi::S32>>());  // edges
