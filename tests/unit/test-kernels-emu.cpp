/*
 * test-kernels-emu.cpp - fs-score-gpu's CUDA kernels, run on the host.
 *
 * Compiles the real device code (tools/score-gpu/score_kernels.cuh)
 * with g++: threadIdx, blockIdx and blockDim are thread-locals, one host
 * thread per CUDA thread, __syncthreads a std::barrier, the blocks of a
 * grid run one after another over one shared-memory array (poisoned
 * between blocks, so a row the staging missed cannot pass for one it
 * copied).  __ldg is a plain load; the _rn intrinsics are IEEE
 * round-to-nearest operations, which x86-64 SSE arithmetic is, with
 * -ffp-contract=off so g++ fuses nothing the GPU would not.
 *
 * Every margin must equal, bit for bit, the CPU kernel's (forest_margin
 * with and without AVX-512, logit_margin) for the same rows: XGBoost
 * models of depth 2-10 and LightGBM (zero-as-missing) and logistic
 * models written by kernels-emu-models.py, and models/fraud-v1.json;
 * rows with NaN, +-0, +-inf, +-1e-35 and its neighbours, subnormals and
 * values exactly on (and one ulp beside) the model's thresholds; row
 * counts 1, 130, 256, 1001; k_forest<true> wherever its rows fit
 * shared memory, k_forest<false> always (the host picks it past
 * SMEM_MAX: nfeat 80 and up).  What this cannot see: the real
 * compiler, real warps, FTZ (nvcc is run without --use_fast_math).
 *
 * TAP on stdout; run from the top of the tree (tests/run does).
 */
#include <algorithm>
#include <barrier>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <math.h>
#include <unistd.h>

extern "C" {
#include "score.h"
}

/* ---- CUDA, emulated ---- */
#define __device__
#define __global__
#define __shared__
struct emu_dim3 {
	unsigned x, y, z;
};
static thread_local emu_dim3 threadIdx, blockIdx;
static emu_dim3 blockDim;
static std::barrier<> *emu_sync;
#define __syncthreads() emu_sync->arrive_and_wait()
template <class T> static T __ldg(const T *p)
{
	return *p;
}
static inline float __fadd_rn(float a, float b)
{
	return a + b;
}
static inline double __dadd_rn(double a, double b)
{
	return a + b;
}
static inline double __dmul_rn(double a, double b)
{
	return a * b;
}
using std::min;

#include "score_kernels.cuh"

/* The block's shared memory: k_forest's "extern __shared__ float sm[]". */
float sm[SMEM_MAX / sizeof(float)];

/*
 * Run kernel() as a grid of blocks x THREADS.  Threads are started once
 * per grid and go through the blocks in step: a second barrier ends each
 * block (and poisons sm), as a block's end does on the GPU.
 */
template <class K> static void emu_launch(int blocks, K kernel)
{
	auto poison = []() noexcept {
		for (float &v : sm)
			v = -1e30f;
	};
	std::barrier<> sync(THREADS);
	std::barrier<decltype(poison)> block_end(THREADS, poison);
	std::vector<std::thread> th;

	emu_sync = &sync;
	blockDim = { THREADS, 1, 1 };
	poison();
	for (unsigned t = 0; t < THREADS; t++)
		th.emplace_back([&, t] {
			threadIdx = { t, 0, 0 };
			for (int b = 0; b < blocks; b++) {
				blockIdx = { (unsigned)b, 0, 0 };
				kernel();
				block_end.arrive_and_wait();
			}
		});
	for (auto &x : th)
		x.join();
}

/* launch() in score_cuda.cu: shared memory when THREADS rows fit. */
static bool fits_shared(int nfeat)
{
	return (size_t)THREADS * smem_stride(nfeat) * sizeof(float) <=
	       SMEM_MAX;
}

/* The kernel launch of score_cuda.cu's launch(), for one variant. */
static void gpu_margin(const struct forest *f, const struct model *m,
		       bool shared, const struct fnode *nodes,
		       const float *rows, int n, double *out)
{
	int blocks = (n + THREADS - 1) / THREADS, nfeat = m->nfeat;
	int stride = smem_stride(nfeat);

	if (!f)
		emu_launch(blocks, [&] {
			k_logit(m->weights, m->intercept, nfeat, rows, n, out);
		});
	if (!f)
		return;
	/* upload_model() in score_cuda.cu */
	struct kforest k = {
		nodes, f->root, f->depth, f->cls_first, f->leaf_f, f->leaf_d,
		f->has_cat ? f->cats : nullptr, f->nclass, nfeat,
		f->acc_double, f->has_zero_missing, f->base_f, f->base_d,
		f->out_scale,
	};
	if (shared)
		emu_launch(blocks, [&] {
			k_forest<true>(k, rows, n, out, stride);
		});
	else
		emu_launch(blocks, [&] {
			k_forest<false>(k, rows, n, out, 0);
		});
}

/* ---- TAP ---- */
static int ntest, nfail;

static void tap(bool ok, const std::string &name, const std::string &diag)
{
	printf("%sok %d - %s\n", ok ? "" : "not ", ++ntest, name.c_str());
	if (!ok && !diag.empty())
		printf("%s", diag.c_str());
	nfail += !ok;
	fflush(stdout);
}

static void tap_skip(const std::string &name, const std::string &why)
{
	printf("ok %d - %s # SKIP %s\n", ++ntest, name.c_str(), why.c_str());
	fflush(stdout);
}

/* A hung __syncthreads (a thread that skipped it) must not hang make. */
static void on_alarm(int)
{
	static const char msg[] = "not ok - timed out: a __syncthreads "
				  "deadlock?\n";

	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(1);
}

/* ---- models and rows ---- */
struct tmodel {
	std::string name;
	struct model *m = nullptr;
	struct forest *f = nullptr;	/* generic kernel (no AVX-512) */
	struct forest *fs = nullptr;	/* AVX-512 kernel, when this CPU has it */
	std::string err;
};

static tmodel load(const std::string &dir, const std::string &file)
{
	tmodel t;
	std::string path = dir + "/" + file;
	FILE *fp = fopen(path.c_str(), "rb");
	std::string buf;
	char err[256] = "";

	t.name = file;
	if (!fp) {
		t.err = "cannot open " + path;
		return t;
	}
	for (int c; (c = getc(fp)) != EOF;)
		buf += (char)c;
	fclose(fp);
	t.m = model_parse(buf.data(), buf.size(), err, sizeof(err));
	if (!t.m) {
		t.err = err;
		return t;
	}
	if (t.m->type == MODEL_LOGIT)
		return t;
	setenv("FS_SCORE_NO_SIMD", "1", 1);
	t.f = forest_build(t.m);
	unsetenv("FS_SCORE_NO_SIMD");
	if (forest_simd_ok())
		t.fs = forest_build(t.m);
	return t;
}

/*
 * n rows for t: a mix of the values where a kernel can go wrong (NaN,
 * signed zeros, infinities, the zero-as-missing bound 1e-35 and the
 * floats beside it, subnormals), the model's own thresholds and their
 * neighbours (a < turned <= shows only there), and ordinary values.
 */
static std::vector<float> make_rows(const tmodel &t, int n, unsigned seed)
{
	int nfeat = t.m->nfeat;
	std::vector<std::vector<float>> thr(nfeat);
	std::mt19937 rng(seed);
	std::uniform_real_distribution<float> u(0, 1);
	std::normal_distribution<float> nd(0, 1.5f);
	std::vector<float> rows((size_t)n * nfeat);
	static const float special[] = {
		0.0f, -0.0f, INFINITY, -INFINITY, 1e-35f, -1e-35f,
		nextafterf(1e-35f, 1), nextafterf(-1e-35f, -1),
		nextafterf(1e-35f, 0), 1e-36f, -1e-36f, 1e-40f, -1e-45f,
		FLT_MAX, 1.0f, -1.0f
	};

	if (t.f)
		for (int64_t k = 0; k < t.f->nnodes; k++) {
			const struct fnode *q = &t.f->nodes[k];
			std::vector<float> &th = thr[q->feat & FNODE_FEAT_MASK];

			if (q->left == q->right)	/* a leaf */
				continue;
			if (!(q->feat & FNODE_CAT)) {
				th.push_back(q->thr);
				continue;
			}
			/*
			 * categories around the set's words, and the values
			 * the two libraries read differently: -0.5 (LightGBM
			 * category 0, XGBoost none), fractions, 2^24, 2^31
			 */
			uint32_t nw = t.f->cats[q->cat];
			for (uint32_t c = 0; c < nw * 32 + 2; c += 1 + c / 40)
				th.push_back((float)c);
			for (float v : { -0.5f, -0.0f, -1.0f, 2.5f, 16777215.0f,
					 16777216.0f, 2147483648.0f, 3e9f })
				th.push_back(v);
		}
	for (size_t k = 0; k < rows.size(); k++) {
		const std::vector<float> &th = thr[k % nfeat];
		float r = u(rng), v;

		if (r < 0.08f) {
			v = NAN;
		} else if (r < 0.25f) {
			v = special[rng() % (sizeof(special) / sizeof(*special))];
		} else if (r < 0.50f && !th.empty()) {
			v = th[rng() % th.size()];
			if (r > 0.42f)
				v = nextafterf(v, r > 0.46f ? INFINITY : -INFINITY);
		} else {
			v = nd(rng);
		}
		rows[k] = v;
	}
	return rows;
}

/* Compare n GPU margins with the CPU's; diag shows the first 4 misses. */
static int compare(const char *what, const double *cpu, const double *gpu,
		   int n, std::string &diag)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		if (!memcmp(&cpu[i], &gpu[i], sizeof(double)))
			continue;
		bad++;
		if (std::count(diag.begin(), diag.end(), '\n') < 4) {
			char line[200];

			snprintf(line, sizeof(line),
				 "# %d rows: row %d: CPU (%s) %.17g (%a), "
				 "GPU %.17g (%a)\n",
				 n, i, what, cpu[i], cpu[i], gpu[i], gpu[i]);
			diag += line;
		}
	}
	return bad;
}

static const int NROWS[] = { 1, 130, 256, 1001 };

/* One kernel variant for one model against every CPU path. */
static void check_variant(const tmodel &t, bool shared)
{
	const char *kname = !t.f ? "k_logit" :
			    shared ? "k_forest<true>" : "k_forest<false>";
	char name[256];
	std::string diag;
	int bad = 0;

	if (t.f)
		snprintf(name, sizeof(name),
			 "%s: %s margins equal forest_margin%s bit for bit "
			 "(%d features, %d trees)", t.name.c_str(), kname,
			 t.fs ? " (scalar and AVX-512)" : "", t.m->nfeat,
			 t.m->ntrees);
	else
		snprintf(name, sizeof(name),
			 "%s: k_logit margins equal logit_margin bit for bit "
			 "(%d features)", t.name.c_str(), t.m->nfeat);
	for (int n : NROWS) {
		std::vector<float> rows = make_rows(t, n, (unsigned)n);
		int nm = n * (t.f ? t.f->nclass : 1);
		std::vector<double> cpu(nm), cpus(nm), gpu(nm, -12345.0);

		gpu_margin(t.f, t.m, shared, t.f ? t.f->nodes : nullptr,
			   rows.data(), n, gpu.data());
		if (!t.f) {
			logit_margin(t.m, rows.data(), n, cpu.data());
			bad += compare("logit_margin", cpu.data(), gpu.data(), nm,
				       diag);
			continue;
		}
		forest_margin(t.f, rows.data(), n, cpu.data());
		bad += compare("scalar", cpu.data(), gpu.data(), nm, diag);
		if (t.fs) {
			forest_margin(t.fs, rows.data(), n, cpus.data());
			bad += compare("AVX-512", cpus.data(), gpu.data(), nm,
				       diag);
		}
	}
	if (bad)
		diag += "# " + std::to_string(bad) + " margins differ\n";
	tap(bad == 0, name, diag);
}

/*
 * The check must be able to fail: with every threshold one ulp lower,
 * rows sitting exactly on a threshold change side, so some margin must
 * differ (and the rows do hit thresholds).
 */
static void check_sensitivity(const tmodel &t)
{
	std::vector<struct fnode> nodes(t.f->nodes, t.f->nodes + t.f->nnodes);
	int n = 1001, bad, nm = n * t.f->nclass;
	std::vector<float> rows = make_rows(t, n, 99);
	std::vector<double> cpu(nm), gpu(nm);
	std::string diag;

	for (auto &q : nodes)
		if (q.left != q.right && !(q.feat & FNODE_CAT))
			q.thr = nextafterf(q.thr, -INFINITY);
	forest_margin(t.f, rows.data(), n, cpu.data());
	gpu_margin(t.f, t.m, fits_shared(t.m->nfeat), nodes.data(),
		   rows.data(), n, gpu.data());
	bad = compare("", cpu.data(), gpu.data(), nm, diag);
	tap(bad > 0, t.name + ": thresholds one ulp lower change " +
		std::to_string(bad) + " margins (the check can fail)",
	    "# no margin changed: rows never sit on a threshold?\n");
}

/*
 * The same for categorical splits: with one bit of every category set
 * flipped (the set's first member dropped), some margin must differ.
 */
static void check_cat_sensitivity(const tmodel &t)
{
	struct forest g = *t.f;
	std::vector<uint32_t> cats(t.f->cats, t.f->cats + t.f->ncats);
	int n = 1001, bad, nm = n * t.f->nclass;
	std::vector<float> rows = make_rows(t, n, 98);
	std::vector<double> cpu(nm), gpu(nm);
	std::string diag;

	for (int64_t k = 0; k < t.f->nnodes; k++) {
		const struct fnode *q = &t.f->nodes[k];

		if (q->left == q->right || !(q->feat & FNODE_CAT))
			continue;
		for (uint32_t w = 0; w < cats[q->cat]; w++) {
			uint32_t &x = cats[q->cat + 1 + w];

			if (x) {
				x &= x - 1;
				break;
			}
		}
	}
	g.cats = cats.data();
	forest_margin(t.f, rows.data(), n, cpu.data());
	gpu_margin(&g, t.m, fits_shared(t.m->nfeat), g.nodes, rows.data(), n,
		   gpu.data());
	bad = compare("", cpu.data(), gpu.data(), nm, diag);
	tap(bad > 0, t.name + ": a category dropped from each set changes " +
		std::to_string(bad) + " margins (the check can fail)",
	    "# no margin changed: rows never hit the categories?\n");
}

/*
 * Run kernels-emu-models.py into dir.  Without python3 the generated
 * models are skipped (skip_gen), without xgboost the XGBoost ones
 * (skip_xgb); a script that fails is a failure (gen_err).
 */
static void generate(const std::string &dir, std::string &skip_gen,
		     std::string &skip_xgb, std::string &gen_err)
{
	/* Debian's python3 has xgboost; a pyenv one on PATH may not */
	std::string py = access("/usr/bin/python3", X_OK) == 0 ?
				 "/usr/bin/python3" : "python3";
	std::string cmd = py + " tests/unit/kernels-emu-models.py " + dir;
	std::string log = dir + "/gen.log";

	if (system(("command -v " + py + " >/dev/null 2>&1").c_str()) != 0) {
		skip_gen = skip_xgb = "no python3";
		return;
	}
	if (system((cmd + " >" + log + " 2>&1").c_str()) != 0) {
		gen_err = "# '" + cmd + "' failed (run from the top of the "
			  "tree):\n";
		if (FILE *fp = fopen(log.c_str(), "r")) {
			char line[512];

			while (fgets(line, sizeof(line), fp))
				gen_err += std::string("# ") + line;
			fclose(fp);
		}
		skip_gen = skip_xgb = "no models generated";
		return;
	}
	if (FILE *fp = fopen((dir + "/xgb.skip").c_str(), "r")) {
		char why[300] = "";

		if (!fgets(why, sizeof(why), fp))
			strcpy(why, "no xgboost");
		fclose(fp);
		skip_xgb = why;
	}
}

int main(void)
{
	char tmpl[] = "/tmp/kernels-emu-XXXXXX";
	std::string dir, skip_gen, skip_xgb, gen_err;
	std::vector<std::string> files;
	std::vector<tmodel> models;
	int plan = 0;

	signal(SIGALRM, on_alarm);
	alarm(240);
	if (!mkdtemp(tmpl)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	dir = tmpl;
	generate(dir, skip_gen, skip_xgb, gen_err);
	models.push_back(load("models", "fraud-v1.json"));
	for (auto &e : std::filesystem::directory_iterator(dir)) {
		std::string f = e.path().filename();

		if (f.ends_with(".json") || f.ends_with(".txt"))
			files.push_back(f);
	}
	std::sort(files.begin(), files.end());
	for (auto &f : files)
		models.push_back(load(dir, f));

	for (auto &t : models)
		plan += (t.f && fits_shared(t.m->nfeat) ? 2 : 1) +
			(t.f && t.f->has_cat);
	plan += 1 + !gen_err.empty() + !skip_gen.empty() + !skip_xgb.empty();
	printf("1..%d\n", plan);

	if (!gen_err.empty())
		tap(false, "kernels-emu-models.py writes the test models",
		    gen_err);
	for (auto &t : models) {
		if (!t.m) {
			tap(false, t.name + ": parses", "# " + t.err + "\n");
			continue;
		}
		if (!t.f) {
			check_variant(t, false);
			continue;
		}
		if (fits_shared(t.m->nfeat))
			check_variant(t, true);
		check_variant(t, false);
		if (t.f->has_cat)
			check_cat_sensitivity(t);
	}
	if (models[0].f)
		check_sensitivity(models[0]);
	else
		tap(false, "fraud-v1.json: thresholds one ulp lower change "
		    "margins", "# no model\n");
	if (!skip_gen.empty())
		tap_skip("LightGBM and logistic models", skip_gen);
	if (!skip_xgb.empty())
		tap_skip("XGBoost models of depth 2-10", skip_xgb);

	for (auto &t : models) {
		forest_free(t.f);
		forest_free(t.fs);
		if (t.m)
			model_free(t.m);
	}
	std::filesystem::remove_all(dir);
	return nfail ? 1 : 0;
}
