#!/usr/bin/env python3
"""Times upstream GPT-SoVITS (PyTorch) on the same workloads as `gsv-server bench`.

Runs the user's own checkout of https://github.com/RVC-Boss/GPT-SoVITS (nothing of it is copied into
this repository): full-size v2 models with random weights (configs/s1longer-v2.yaml dims for the GPT,
configs/s2.json for SoVITS), built in memory, so no download is needed.

Workloads (same as gsv-server's):
  gpt_b1     Text2SemanticDecoder.infer_panel (= infer_panel_naive), batch 1, fixed token count (EOS suppressed),
             top_k 15, top_p 1, temperature 1, repetition_penalty 1.35 (api_v2 defaults)
  gpt_bN     infer_panel_batch_infer (TTS.run's parallel_infer path) with N sequences
  sovits     SynthesizerTrn.decode of 250 codes (10 s of audio), noise_scale 0.5, of the SoVITS
             generation --version names (v2: configs/s2.json; v2Pro / v2ProPlus: s2v2Pro.json /
             s2v2ProPlus.json, decoded with a speaker embedding)
  speaker    v2Pro / v2ProPlus only: the speaker embedding of a 10 s 32 kHz reference as TTS.py +
             sv.py compute it (torchaudio Resample to 16 kHz, eres2net's kaldi.fbank, ERes2NetV2
             forward3 at baseWidth 24, scale 4, expansion 4, random weights)

usage: bench-upstream.py --upstream PATH [--device cpu|cuda] [--half] [--tokens 500] [--batches 4,16]
                         [--repeats 3] [--version v2|v2Pro|v2ProPlus] [--skip-gpt] [--json OUT]
Needs torch (and numpy). Modules upstream imports only for training or other versions are stubbed.
"""
import argparse
import importlib
import json
import os
import platform
import sys
import time
import types


def import_with_stubs(name):
    """Imports `name`, standing in empty modules for optional dependencies that are missing."""
    for _ in range(50):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            missing = e.name
            if missing is None or missing.split(".")[0] in ("AR", "module", "text", "torch"):
                raise
            parts = missing.split(".")
            for i in range(1, len(parts) + 1):
                mod_name = ".".join(parts[:i])
                if mod_name not in sys.modules:
                    stub = types.ModuleType(mod_name)
                    stub.__path__ = []
                    stub.__getattr__ = lambda attr, _n=mod_name: type(attr, (), {"__init__": lambda self, *a, **k: None})
                    if mod_name == "tqdm":  # progress bars: pass the iterable through
                        stub.tqdm = lambda it=None, *a, **k: it
                    sys.modules[mod_name] = stub
            print(f"[bench-upstream] stubbed missing module {missing}", file=sys.stderr)
    raise RuntimeError(f"could not import {name}")


def sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="path to a GPT-SoVITS checkout (repository root)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--half", action="store_true", help="fp16 weights/activations (upstream's is_half on CUDA)")
    ap.add_argument("--tokens", type=int, default=500)
    ap.add_argument("--batches", default="4,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sovits-codes", type=int, default=250)
    ap.add_argument("--skip-sovits", action="store_true")
    ap.add_argument("--skip-gpt", action="store_true")
    ap.add_argument("--version", default="v2", choices=["v2", "v2Pro", "v2ProPlus"], help="SoVITS generation")
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()

    root = os.path.abspath(args.upstream)
    sys.path[:0] = [os.path.join(root, "GPT_SoVITS"), root]
    import torch

    torch.manual_seed(0)
    dev = torch.device(args.device)
    dtype = torch.float16 if args.half else torch.float32
    if args.device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)

    t2s = import_with_stubs("AR.models.t2s_model")
    config = {
        "model": {"embedding_dim": 512, "hidden_dim": 512, "head": 16, "n_layer": 24, "vocab_size": 1025,
                  "phoneme_vocab_size": 732, "dropout": 0, "EOS": 1024, "linear_units": 2048, "random_bert": 0},
    }
    gpt = t2s.Text2SemanticDecoder(config, top_k=3).eval()

    # Fixed token counts: suppress EOS by wrapping the output projection (random weights would
    # otherwise stop at a random step).
    class NoEos(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, h):
            out = self.inner(h)
            out[..., 1024] = -1e4
            return out

    gpt.ar_predict_layer = NoEos(gpt.ar_predict_layer)
    gpt = gpt.to(dev, dtype)

    tx, ty = 40, 100  # phones (prompt + target) and prompt semantic tokens (~4 s reference)
    g = torch.Generator().manual_seed(1)
    phones = torch.randint(0, 732, (1, tx), generator=g).to(dev)
    bert = (torch.randn(1, 1024, tx, generator=g) * 0.1).to(dev, dtype)
    prompt = torch.randint(0, 1024, (1, ty), generator=g).to(dev)
    sampling = dict(top_k=15, top_p=1.0, temperature=1.0, repetition_penalty=1.35)
    results = {"implementation": "upstream", "torch": torch.__version__, "device": args.device,
               "dtype": str(dtype).replace("torch.", ""), "machine": platform.node(), "cpu_threads": torch.get_num_threads(),
               "tokens": args.tokens, "date": time.strftime("%Y-%m-%d")}
    if args.device == "cuda":
        results["gpu"] = torch.cuda.get_device_name(0)

    def run_b1():
        with torch.no_grad():
            y, idx = gpt.infer_panel(phones, torch.tensor([tx], device=dev), prompt, bert,
                                           early_stop_num=args.tokens - 1, **sampling)
        return idx

    def timed(fn, n):
        times = []
        for _ in range(n):
            sync(torch, args.device)
            t = time.perf_counter()
            out = fn()
            sync(torch, args.device)
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2], out

    if not args.skip_gpt:
        timed(run_b1, 1)  # warm-up
        t, idx = timed(run_b1, args.repeats)
        results["gpt_b1"] = {"seconds": t, "tokens": int(idx), "tokens_per_s": int(idx) / t}
        print(f"[upstream] gpt batch 1: {int(idx)} tokens in {t:.2f}s = {int(idx) / t:.1f} tokens/s", file=sys.stderr)

    for b in [int(x) for x in args.batches.split(",") if x and not args.skip_gpt]:
        xs = [phones[0] for _ in range(b)]
        lens = torch.tensor([tx] * b, device=dev)
        berts = [bert[0] for _ in range(b)]
        prompts = prompt.expand(b, -1).contiguous()

        def run_bn():
            with torch.no_grad():
                pred, idx_list = gpt.infer_panel_batch_infer(xs, lens, prompts, berts,
                                                             early_stop_num=args.tokens - 1, **sampling)
            return sum(int(i) for i in idx_list)

        timed(run_bn, 1)
        t, total = timed(run_bn, max(1, args.repeats - 1))
        results[f"gpt_b{b}"] = {"seconds": t, "tokens": total, "tokens_per_s": total / t}
        print(f"[upstream] gpt batch {b}: {total} tokens in {t:.2f}s = {total / t:.1f} tokens/s", file=sys.stderr)

    if not args.skip_sovits:
        # module.models imports the v3/v4 DiT (f5_tts) at the top; SoVITS v2/v2Pro never uses it,
        # and its package imports itself by an absolute name that a plain checkout cannot resolve.
        f5 = types.ModuleType("f5_tts")
        f5.__path__ = []
        f5_model = types.ModuleType("f5_tts.model")
        f5_model.DiT = type("DiT", (), {})
        f5.model = f5_model
        sys.modules.setdefault("f5_tts", f5)
        sys.modules.setdefault("f5_tts.model", f5_model)
        models = import_with_stubs("module.models")
        config_file = {"v2": "s2.json", "v2Pro": "s2v2Pro.json", "v2ProPlus": "s2v2ProPlus.json"}[args.version]
        hp = json.load(open(os.path.join(root, "GPT_SoVITS", "configs", config_file)))
        m = hp["model"]
        m["version"] = args.version
        vits = models.SynthesizerTrn(hp["data"]["filter_length"] // 2 + 1,
                                     hp["train"]["segment_size"] // hp["data"]["hop_length"],
                                     n_speakers=hp["data"]["n_speakers"], **m).eval()
        if hasattr(vits, "enc_q"):
            del vits.enc_q
        vits = vits.to(dev, dtype)
        codes = torch.randint(0, 1024, (1, 1, args.sovits_codes), generator=g).to(dev)
        text = torch.randint(0, 732, (1, 60), generator=g).to(dev)
        refer = torch.rand(1, 1025, 150, generator=g).to(dev, dtype)
        pro = args.version != "v2"
        sv_emb = (torch.randn(1, 20480, generator=g) * 0.1).to(dev, dtype) if pro else None

        def run_vits():
            with torch.no_grad():
                if pro:
                    return vits.decode(codes, text, refer, noise_scale=0.5, sv_emb=sv_emb).shape[-1]
                return vits.decode(codes, text, refer, noise_scale=0.5).shape[-1]

        timed(run_vits, 1)
        t, n = timed(run_vits, args.repeats)
        audio_s = n / 32000
        results["sovits"] = {"version": args.version, "seconds": t, "audio_seconds": audio_s, "rtf": t / audio_s}
        print(f"[upstream] sovits {args.version}: {audio_s:.1f}s of audio in {t:.3f}s, RTF {t / audio_s:.4f}", file=sys.stderr)

        if pro:
            sys.path.insert(0, os.path.join(root, "GPT_SoVITS", "eres2net"))
            eres2net = import_with_stubs("ERes2NetV2")
            kaldi = import_with_stubs("kaldi")
            sv = eres2net.ERes2NetV2(baseWidth=24, scale=4, expansion=4).eval().to(dev, dtype)
            clip = (torch.sin(torch.arange(32000 * 10) * 0.017) * 0.3).to(dev)
            try:
                import torchaudio

                resampler = torchaudio.transforms.Resample(32000, 16000).to(dev)
            except ImportError:  # then the resample is left out of the time, and said so
                resampler = None

            def run_sv():
                with torch.no_grad():
                    wav = resampler(clip.unsqueeze(0)) if resampler is not None else clip[::2].unsqueeze(0)
                    wav = wav.to(dtype)
                    feat = torch.stack([kaldi.fbank(w.unsqueeze(0), num_mel_bins=80, sample_frequency=16000, dither=0) for w in wav])
                    return sv.forward3(feat).shape[-1]

            timed(run_sv, 1)
            t, width = timed(run_sv, args.repeats)
            results["speaker_embedding"] = {"reference_seconds": 10.0, "seconds": t, "width": width,
                                            "resample_included": resampler is not None}
            print(f"[upstream] speaker embedding of 10 s: {t * 1000:.1f} ms (width {width})", file=sys.stderr)

    text = json.dumps(results, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
