/* tools/cmd_run.c: `sso run`: detect moving objects in one quartet and write what was found.
 *
 * Opens the quartet (everything is validated before any pixel is read), runs the pipeline
 * (include/sso/pipeline.h) with progress on stderr, and only when the whole quartet succeeded
 * writes, into --out DIR: alerts.jsonl (one alert per line, sso/alert.h JSON; seq 0 and a run id
 * as boot_id, since sequence numbers belong to the store of `sso` as a publishing service) and one
 * ds9 region file per exposure (regions-<dither>.reg). Files are written under temporary names and
 * renamed, so a failed run leaves no half-written output.
 * With --publish the alerts are first committed to the SQLite store (sso/store.h) and then published
 * on ZeroMQ (sso/publish.h): seq, boot_id and time in alerts.jsonl are then the store's. Nothing
 * is stored or published unless the whole quartet was processed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "host/status_internal.h"
#include "tools/commands.h"
#include "tools/pipeline_opts.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso run <file1> <file2> <file3> <file4> | <dir> --out DIR [options]\n"
            "\n"
            "Finds moving Solar System objects in one Euclid VIS quartet (4 long exposures of one\n"
            "observation): pixel preparation, background, cosmic rays, resampling onto sky patches,\n"
            "static-sky removal, matched filtering and the slow-mover shift-and-stack (to --vmax).\n"
            "Fast movers (streaks, > 10\"/h) are searched too, unless --no-fast (a segment-pyramid\n"
            "streak bank, O(pixels x log longest trail), ~1 CPU s per Mpx per epoch at 470 px; see\n"
            "bench/results/fast-search-*.md).\n"
            "\n"
            "Writes DIR/alerts.jsonl (one JSON alert per detected object: per-epoch RA/Dec, magnitude,\n"
            "SNR, detector and pixel; rate and position angle), DIR/regions-<dither>.reg (ds9) and\n"
            "DIR/cutouts/<alert_id>.fits (32x32 px difference-image cutouts, one HDU per epoch).\n"
            "Progress and per-stage timings go to stderr.\n"
            "\n"
            "options:\n"
            "  --out DIR          output directory (created if missing) [required]\n"
            "  --role R           observation or test, written in each alert [observation]\n"
            "  --verify-checksum  verify DATASUM/CHECKSUM of every HDU read\n"
            "  --publish EP       store the alerts (--store) and publish them on ZeroMQ PUB at EP,\n"
            "                     e.g. tcp://127.0.0.1:5556 (loopback; see `sso listen`)\n"
            "  --replay EP        the replay service's endpoint [tcp://127.0.0.1:5557]\n"
            "  --store PATH       the SQLite alert store [DIR/alerts.db]\n"
            "  --curve-secret F   CURVE on the PUB and replay sockets with this server secret key\n"
            "                     (`sso keygen F`; clients use F.pub as --server-key)\n"
            "  --allow-keys F     client public keys (Z85, one per line) let in; needed with CURVE\n"
            "  --linger S         keep publishing heartbeats and answering replay for S seconds\n"
            "                     after the alerts went out (for subscribers catching up) [0]\n"
            "  --quiet            no progress on stderr\n"
            "  -h, --help         this text\n"
            "\n");
    sso_pipeline_config d;
    sso_cli_pipeline_defaults(&d);
    sso_cli_pipeline_usage(f, &d);
    fprintf(f, "\nexit codes: 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 I/O, 5 GPU unavailable.\n");
}

static void on_progress(void *user, const char *stage, const char *message)
{
    (void)user;
    fprintf(stderr, "sso run: [%s] %s\n", stage, message);
}

static sso_status write_outputs(const char *dir, const sso_quartet *q, sso_alert *alerts, size_t n,
                                const char *run_id)
{
    char path[4096], tmp[4200];
    FILE *f = NULL;
    sso_status st = SSO_OK;
    char now[40];
    sso_time_us_to_rfc3339(sso_time_now_us(), now, sizeof now);

    snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        sso_alert *a = &alerts[i];
        if (run_id) { /* not stored: no seq; the run stands in for the publisher's boot */
            a->seq = 0;
            snprintf(a->boot_id, sizeof a->boot_id, "%s", run_id);
            snprintf(a->time, sizeof a->time, "%s", now);
        }
        char *json = NULL;
        if ((st = sso_alert_to_json(a, 1, &json, NULL)))
            break;
        fputs(json, f);
        fputc('\n', f);
        free(json);
    }
    if (fclose(f) != 0 && st == SSO_OK)
        st = sso_fail(SSO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (st == SSO_OK && rename(tmp, path) != 0)
        st = sso_fail(SSO_ERR_IO, "%s: %s", path, strerror(errno));
    if (st) {
        remove(tmp);
        return st;
    }
    for (int e = 0; e < SSO_QUARTET_N; e++) {
        sso_exposure_info ei;
        if ((st = sso_quartet_exposure(q, e, &ei)))
            return st;
        snprintf(path, sizeof path, "%s/regions-%d.reg", dir, ei.dither > 0 ? ei.dither : e + 1);
        snprintf(tmp, sizeof tmp, "sso run: %s", ei.path);
        if ((st = sso_regions_write(path, tmp, NULL, ei.mjd_mid, alerts, n)))
            return st; /* tools/cmd_regions.c */
    }
    return SSO_OK;
}

int sso_cmd_run(int argc, char **argv)
{
    const char *out = NULL, *paths[8];
    int n_paths = 0, quiet = 0;
    unsigned flags = 0;
    sso_pipeline_config cfg;
    sso_cli_pipeline_defaults(&cfg);
    sso_alert_role role = SSO_ROLE_OBSERVATION;
    const char *pub_ep = NULL, *replay_ep = SSO_REPLAY_DEFAULT_ENDPOINT, *store_path = NULL;
    const char *curve_secret = NULL, *allow_keys = NULL;
    double linger_s = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        int po;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((po = sso_cli_pipeline_opt("run", argc, argv, &i, &cfg)) != 0) {
            if (po < 0)
                return 2;
        } else if (!strcmp(a, "--out") && more) {
            out = argv[++i];
        } else if (!strcmp(a, "--role") && more) {
            const char *r = argv[++i];
            if (!strcmp(r, "test"))
                role = SSO_ROLE_TEST;
            else if (strcmp(r, "observation")) {
                fprintf(stderr, "sso run: --role must be observation or test\n");
                return 2;
            }
        } else if (!strcmp(a, "--verify-checksum")) {
            flags |= SSO_OPEN_VERIFY_CHECKSUM;
        } else if (!strcmp(a, "--publish") && more) {
            pub_ep = argv[++i];
        } else if (!strcmp(a, "--replay") && more) {
            replay_ep = argv[++i];
        } else if (!strcmp(a, "--store") && more) {
            store_path = argv[++i];
        } else if (!strcmp(a, "--curve-secret") && more) {
            curve_secret = argv[++i];
        } else if (!strcmp(a, "--allow-keys") && more) {
            allow_keys = argv[++i];
        } else if (!strcmp(a, "--linger") && more) {
            linger_s = atof(argv[++i]);
            if (!(linger_s >= 0 && linger_s <= 3600)) {
                fprintf(stderr, "sso run: --linger must be 0..3600 s\n");
                return 2;
            }
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "sso run: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        } else if (n_paths < 8) {
            paths[n_paths++] = a;
        } else {
            fprintf(stderr, "sso run: too many inputs\n");
            return 2;
        }
    }
    if (!out || n_paths == 0) {
        usage(stderr);
        return 2;
    }
    if ((curve_secret || allow_keys) && !pub_ep) {
        fprintf(stderr, "sso run: --curve-secret and --allow-keys secure --publish: give it too\n");
        return 2;
    }
    if (curve_secret || allow_keys) { /* refuse before any work: keys, allowed list, CURVE */
        sso_status cst = sso_curve_check_server(curve_secret, allow_keys);
        if (cst)
            return sso_cli_error("run", cst);
    }
    if (!quiet)
        cfg.progress = on_progress;
    if (!quiet && cfg.backend == SSO_BACKEND_AUTO) {
        const int ndev = sso_cuda_device_count();
        fprintf(stderr, "sso run: --backend auto: using %s (%d CUDA device(s) visible)\n",
                sso_backend_name(sso_backend_resolve(cfg.backend)), ndev);
    }

    sso_quartet *q = NULL;
    sso_status st;
    struct stat sb;
    if (n_paths == 1 && stat(paths[0], &sb) == 0 && S_ISDIR(sb.st_mode))
        st = sso_quartet_open_dir(paths[0], flags, &q);
    else
        st = sso_quartet_open(paths, n_paths, flags, &q);
    if (st)
        return sso_cli_error("run", st);

    sso_alert *alerts = NULL;
    size_t n = 0;
    sso_pipeline_stats ps;
    char cut_dir[4096];
    snprintf(cut_dir, sizeof cut_dir, "%s/cutouts", out);
    if ((mkdir(out, 0777) != 0 && errno != EEXIST) || (mkdir(cut_dir, 0777) != 0 && errno != EEXIST)) {
        sso_quartet_free(q);
        return sso_cli_error("run", sso_fail(SSO_ERR_IO, "%s: %s", cut_dir, strerror(errno)));
    }
    cfg.cutout_dir = cut_dir;
    st = sso_pipeline_run(q, &cfg, &alerts, &n, &ps);
    if (st == SSO_OK) {
        for (size_t i = 0; i < n; i++)
            alerts[i].role = role;
        if (mkdir(out, 0777) != 0 && errno != EEXIST)
            st = sso_fail(SSO_ERR_IO, "%s: %s", out, strerror(errno));
    }
    sso_publisher *pub = NULL;
    if (st == SSO_OK && pub_ep) {
        char db[4096];
        if (!store_path) {
            snprintf(db, sizeof db, "%s/alerts.db", out);
            store_path = db;
        }
        sso_publisher_opts po;
        sso_publisher_opts_default(&po);
        po.store_path = store_path;
        po.pub_endpoint = pub_ep;
        po.replay_endpoint = replay_ep;
        po.curve_secret = curve_secret;
        po.allow_keys = allow_keys;
        sso_exposure_info ei;
        sso_store_put_result pr;
        st = sso_publisher_create(&po, &pub);
        if (st == SSO_OK)
            st = sso_quartet_exposure(q, 0, &ei);
        if (st == SSO_OK)
            st = sso_publisher_put_quartet(pub, n ? alerts[0].obs_id : (ei.obs_id[0] ? ei.obs_id : "obs"),
                                           alerts, n, &pr);
        if (st == SSO_OK && !quiet)
            fprintf(stderr, "sso run: stored in %s and published on %s: %zu new, %zu revised, %zu unchanged "
                            "(last seq %llu)\n",
                    store_path, pub_ep, pr.n_new, pr.n_revised, pr.n_unchanged,
                    (unsigned long long)pr.last_seq);
    }
    if (st == SSO_OK) {
        char run_id[40];
        snprintf(run_id, sizeof run_id, "run-%lld", (long long)(sso_time_now_us() / 1000));
        st = write_outputs(out, q, alerts, n, pub ? NULL : run_id);
    }
    if (pub) {
        if (st == SSO_OK && linger_s > 0) {
            if (!quiet)
                fprintf(stderr, "sso run: serving heartbeats and replay for %.0f s\n", linger_s);
            struct timespec ts = {(time_t)linger_s, (long)((linger_s - (double)(time_t)linger_s) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        sso_publisher_free(pub);
    }
    if (st == SSO_OK && !quiet) {
        fprintf(stderr,
                "sso run: %zu mover(s) in %.1f s on %d patch(es), %d detector reads (prep: %s), "
                "patch buffers held at most %.0f MiB\n"
                "sso run: stages [s]: read %.2f, prep %.2f, background %.2f, cosmics %.2f, resample %.2f, "
                "difference %.2f, psi/phi %.2f, stack %.2f (%.3g trajectory-epoch samples, %.3g/s), "
                "measure %.2f, fast search %.2f\n",
                n, ps.total_s, ps.n_patches, ps.n_detectors, ps.backend,
                (double)ps.patch_bytes_peak / 1048576.0, ps.read_s, ps.prep_s,
                ps.background_s, ps.cosmic_s, ps.resample_s, ps.difference_s, ps.likelihood_s,
                ps.stack_s, (double)ps.n_stack_samples,
                ps.stack_s > 0 ? ps.n_stack_samples / ps.stack_s : 0.0, ps.measure_s, ps.fast_s);
        fprintf(stderr,
                "sso run: slow candidates %lld, rejected on their refined track %lld, one epoch's "
                "source %lld, fitted on the images %lld, 2-epoch pass candidates kept %lld, epochs "
                "dropped by the streak veto %lld; slow alerts (grid edge, 2-epoch) replaced by fast ones %lld, fast alerts "
                "replaced by a better fit of the same mover %lld, fast candidates explained by a "
                "stronger alert or a mask's edge %lld (mask's edge: %lld), fast alerts linked across "
                "patches %lld\n",
                ps.n_candidates, ps.n_rejected_refined, ps.n_slow_one_epoch, ps.n_slow_direct,
                ps.n_pair_candidates,
                ps.n_vetoed_epochs, ps.n_replaced_slow, ps.n_fast_duplicates, ps.n_fast_explained,
                ps.n_fast_mask_edge, ps.n_fast_cross_patch);
        fprintf(stderr, "sso run: wrote %s/alerts.jsonl and %s/regions-*.reg\n", out, out);
    }
    free(alerts);
    sso_quartet_free(q);
    return st ? sso_cli_error("run", st) : 0;
}
