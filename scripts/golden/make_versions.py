#!/usr/bin/env python3
"""Golden SoVITS decode cases for the model versions the public fixture sets lack (v2ProPlus, v1),
computed by upstream GPT-SoVITS's own PyTorch code on random tiny weights.

Nothing of upstream is copied here: the script imports upstream's modules from a checkout given
on the command line (e.g. exported from `git archive` of RVC-Boss/GPT-SoVITS) and only supplies
stand-ins for imports the SoVITS inference path never uses (the v3 DiT, i18n, the training utils
module whose `HParams` class the config is pickled as).

Method (as ../../tests/fixtures-pro/README.md describes for v2Pro):
  * build `module.models.SynthesizerTrn` with a tiny config of the version
    (v2ProPlus: upsample_initial_channel and a first upsample kernel of 20 as s2v2ProPlus.json
    differs from s2v2Pro.json; v1: 322 symbols, reference encoder over all 1025 bins),
  * save it with `process_ckpt.savee` (fp16, `06` header for v2ProPlus, plain zip for v1),
  * re-load it with `process_ckpt.get_sovits_version_from_path_fast` + `load_sovits_new` the way
    `TTS.init_vits_weights` does, and compute every golden from the re-loaded model:
    `extract_latent`, and `decode` at noise 0, noise 0.5 (noise recorded) and speed 1.25, with
    the conditioning chain (ge_ref, sv_proj, ge, ge512) and enc_p / flow / Generator outputs.
Inputs come from the v2Pro set (upstream outputs): reference spectrogram, HuBERT output and the
speaker embedding of the tiny ERes2NetV2 (width 1920, so `sv_emb` is built Linear(1920, gin)
instead of upstream's hard-coded Linear(20480, gin), the same harness patch as the v2Pro set).

Usage:
  git --git-dir=<mirror> archive HEAD GPT_SoVITS | tar -x -C /tmp/gsv-upstream
  python scripts/golden/make_versions.py --upstream /tmp/gsv-upstream \
      --inputs tests/fixtures-pro --out /tmp/goldens --versions v2ProPlus v1
  gsv-server parity /tmp/goldens
Needs: torch, numpy, safetensors, einops (CPU is enough).
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import types


def install_stand_ins():
    """Modules the SoVITS inference path imports but never calls."""
    f5 = types.ModuleType("f5_tts")
    f5_model = types.ModuleType("f5_tts.model")
    f5_model.DiT = type("DiT", (), {})
    f5.model = f5_model
    sys.modules["f5_tts"] = f5
    sys.modules["f5_tts.model"] = f5_model
    tools = types.ModuleType("tools")
    i18n_pkg = types.ModuleType("tools.i18n")
    i18n_mod = types.ModuleType("tools.i18n.i18n")

    class I18nAuto:
        def __call__(self, s):
            return s

    i18n_mod.I18nAuto = I18nAuto
    sys.modules.update({"tools": tools, "tools.i18n": i18n_pkg, "tools.i18n.i18n": i18n_mod})

    utils = types.ModuleType("utils")

    class HParams:
        """Attribute dict, pickled under upstream's name `utils.HParams`."""

        def __init__(self, **kwargs):
            for k, v in kwargs.items():
                self[k] = HParams(**v) if isinstance(v, dict) else v

        def __getitem__(self, k):
            return getattr(self, k)

        def __setitem__(self, k, v):
            setattr(self, k, v)

        def __contains__(self, k):
            return k in self.__dict__

    HParams.__module__ = "utils"
    HParams.__qualname__ = "HParams"
    utils.HParams = HParams
    sys.modules["utils"] = utils
    return HParams


TINY = {
    "inter_channels": 32,
    "hidden_channels": 192,  # MRTE hard-codes 192 content channels
    "filter_channels": 16,
    "n_heads": 2,
    "n_layers": 2,
    "kernel_size": 3,
    "p_dropout": 0.0,
    "resblock": "1",
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "upsample_rates": [10, 8, 2, 2, 2],
    "n_layers_q": 3,
    "use_spectral_norm": False,
    "semantic_frame_rate": "25hz",
    "freeze_quantizer": True,
}
VERSIONS = {
    # s2v2ProPlus.json vs s2v2Pro.json: upsample_initial_channel 768 vs 512, first kernel 20 vs 16.
    "v2ProPlus": dict(upsample_initial_channel=48, upsample_kernel_sizes=[20, 16, 8, 2, 2], gin_channels=128, seed=20251401),
    "v1": dict(upsample_initial_channel=32, upsample_kernel_sizes=[16, 16, 8, 2, 2], gin_channels=512, seed=20251402),  # v1/v2: MRTE adds ge to its 512 channels,
}
DATA = {
    "max_wav_value": 32768.0,
    "sampling_rate": 32000,
    "filter_length": 2048,
    "hop_length": 640,
    "win_length": 2048,
    "n_mel_channels": 128,
    "mel_fmin": 0.0,
    "mel_fmax": None,
    "add_blank": True,
    "n_speakers": 300,
    "cleaned_text": True,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="checkout holding GPT_SoVITS/")
    ap.add_argument("--inputs", required=True, help="the v2Pro fixture set (reference inputs)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--versions", nargs="+", default=list(VERSIONS))
    args = ap.parse_args()

    HParams = install_stand_ins()
    root = os.path.join(os.path.abspath(args.upstream), "GPT_SoVITS")
    sys.path.insert(0, root)
    os.chdir(root)  # upstream modules resolve some paths relative to the working directory
    import torch
    from safetensors.torch import load_file, save_file
    from module.models import SynthesizerTrn
    import process_ckpt

    torch.set_num_threads(1)
    inputs = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", args.inputs)) if not os.path.isabs(args.inputs) else args.inputs
    out = os.path.abspath(args.out)
    for sub in ["models/sovits", "reference"]:
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    copied = ["reference/ref32k_spec.safetensors", "reference/ref_hubert.safetensors", "reference/ref_sv.safetensors"]
    for rel in copied:
        shutil.copy(os.path.join(inputs, rel), os.path.join(out, rel))
    spec = load_file(os.path.join(inputs, copied[0]))["spec"]
    ssl = load_file(os.path.join(inputs, copied[1]))["ssl_content"]
    sv_in = load_file(os.path.join(inputs, copied[2]))["sv_emb"]

    files = [{"path": rel, "format": "safetensors", "producer": f"copied from the v2Pro set ({args.inputs})"} for rel in copied]
    detection = {}
    for version in args.versions:
        cfg = VERSIONS[version]
        torch.manual_seed(cfg["seed"])
        model_cfg = dict(TINY, version=version, gin_channels=cfg["gin_channels"],
                         upsample_initial_channel=cfg["upsample_initial_channel"],
                         upsample_kernel_sizes=cfg["upsample_kernel_sizes"])

        def build(mc):
            m = SynthesizerTrn(DATA["filter_length"] // 2 + 1, 20480 // DATA["hop_length"], n_speakers=DATA["n_speakers"], **mc)
            if getattr(m, "is_v2pro", False):
                # Harness patch: the tiny speaker model's width instead of the hard-coded 20480.
                m.sv_emb = torch.nn.Linear(sv_in.shape[1], mc["gin_channels"])
            return m

        model = build(model_cfg)
        with torch.no_grad():
            # Random, non-trivial values for parameters upstream initialises to constants.
            for name, p in model.named_parameters():
                if name.endswith(("gamma", "beta", ".bias")) or name.startswith("prelu"):
                    p.add_(torch.randn_like(p) * 0.2)
                if name.startswith("sv_emb.weight"):
                    p.mul_(0.5)
            # A trained codebook: random rows, marked initialised (else the first forward runs
            # k-means on its input).
            cb = model.quantizer.vq.layers[0]._codebook
            cb.embed.normal_()
            cb.inited.fill_(1)
        hps = HParams(train={"segment_size": 20480}, data=DATA, model=model_cfg,
                      save_weight_dir=os.path.join(out, "models/sovits"), name=f"tiny-{version}")
        name = f"tiny-{version}_e8_s96"
        msg = process_ckpt.savee(model.state_dict(), name, 8, 96, hps, model_version=version if "Pro" in version else None)
        assert msg == "Success.", msg
        path = os.path.join(out, "models/sovits", name + ".pth")

        # Re-load the way TTS.init_vits_weights does.
        fast = process_ckpt.get_sovits_version_from_path_fast(path)
        dict_s2 = process_ckpt.load_sovits_new(path)
        rows = dict_s2["weight"]["enc_p.text_embedding.weight"].shape[0]
        sym_version = "v1" if rows == 322 else "v2"
        final = fast[1] if "Pro" in fast[1] else sym_version
        mc = dict(vars(dict_s2["config"].model)) if not isinstance(dict_s2["config"].model, dict) else dict(dict_s2["config"].model)
        mc["version"] = final
        mc["semantic_frame_rate"] = "25hz"
        vits = build(mc)
        missing = vits.load_state_dict(dict_s2["weight"], strict=False)
        assert all(k.startswith("enc_q.") for k in missing.missing_keys) and not missing.unexpected_keys, missing
        vits.eval()
        detection[version] = {"header_bytes": open(path, "rb").read(2).decode("latin1"),
                              "get_sovits_version_from_path_fast": list(fast),
                              "text_embedding_rows": rows, "tts_model_version": final}
        with open(path, "rb") as fh:
            files.append({"path": f"models/sovits/{name}.pth", "format": "SoVITS .pth (process_ckpt.savee)",
                          "sha256": hashlib.sha256(fh.read()).hexdigest(), "hps_model": mc,
                          "version_detection": detection[version]})

        unit = f"sovits_{version}"
        os.makedirs(os.path.join(out, unit), exist_ok=True)
        g = torch.Generator().manual_seed(cfg["seed"] + 1)
        codes = torch.randint(0, 1024, (1, 1, 20), generator=g)
        text = torch.randint(1, rows, (1, 16), generator=g)
        with torch.no_grad():
            latent = vits.extract_latent(ssl)
            save_file({"codes": latent.contiguous()}, os.path.join(out, unit, "extract_latent.safetensors"))
            save_file({"codes": codes, "text": text, "quantized": vits.quantizer.decode(codes).contiguous()},
                      os.path.join(out, unit, "decode_inputs.safetensors"))
            files += [{"path": f"{unit}/extract_latent.safetensors", "format": "safetensors", "producer": "SynthesizerTrn.extract_latent(reference/ref_hubert:ssl_content)"},
                      {"path": f"{unit}/decode_inputs.safetensors", "format": "safetensors", "producer": "random codes/text; quantizer.decode"}]
            for case, ns, speed in [("decode_ns0", 0.0, 1.0), ("decode_ns0.5_seed", 0.5, 1.0), ("decode_ns0_speed1.25", 0.0, 1.25)]:
                rec = {}
                hooks = [vits.enc_p.register_forward_hook(lambda m, i, o: rec.update(enc_p_x=o[0], m_p=o[1], logs_p=o[2])),
                         vits.flow.register_forward_hook(lambda m, i, o: rec.update(z=o)),
                         vits.dec.register_forward_hook(lambda m, i, o: rec.update(o=o))]
                real_randn_like = torch.randn_like

                def recording_randn_like(x, *a, **k):
                    n = real_randn_like(x, *a, **k)
                    rec["noise"] = n
                    return n

                torch.randn_like = recording_randn_like
                torch.manual_seed(20250732)
                try:
                    vits.decode(codes, text, spec, noise_scale=ns, speed=speed, sv_emb=sv_in if vits.is_v2pro else None)
                finally:
                    torch.randn_like = real_randn_like
                    for h in hooks:
                        h.remove()
                rec["z_p"] = rec["m_p"] + rec["noise"] * torch.exp(rec["logs_p"]) * ns
                # The conditioning chain, module by module on the same inputs.
                mask = torch.ones(1, 1, spec.shape[2])
                ge_ref = vits.ref_enc((spec if version == "v1" else spec[:, :704]) * mask, mask)
                rec["ge_ref"] = ge_ref
                if vits.is_v2pro:
                    rec["sv_proj"] = vits.sv_emb(sv_in)
                    rec["ge"] = vits.prelu(ge_ref + rec["sv_proj"].unsqueeze(-1))
                    rec["ge512"] = vits.ge_to512(rec["ge"].transpose(2, 1)).transpose(2, 1)
                else:
                    rec["ge"] = ge_ref.clone()
                tensors = {k: v.detach().float().contiguous() for k, v in rec.items()}
                save_file(tensors, os.path.join(out, unit, case + ".safetensors"),
                          metadata={"noise_scale": str(ns), "speed": str(speed), "version": version})
                files.append({"path": f"{unit}/{case}.safetensors", "format": "safetensors",
                              "producer": f"SynthesizerTrn({version}).decode(codes, text, refer, noise_scale={ns}, speed={speed})",
                              "tensors": {k: {"shape": list(v.shape)} for k, v in tensors.items()}})
        print(f"{version}: {path} ({os.path.getsize(path)} bytes), detection {detection[version]}")

    manifest = {
        "description": "GPT-SoVITS golden SoVITS decodes for v2ProPlus / v1 (random tiny weights), made by scripts/golden/make_versions.py",
        "upstream_commit": os.environ.get("UPSTREAM_COMMIT", "unknown"),
        "versions": {"torch": torch.__version__},
        "harness_patches": ["sv_emb = Linear(1920, gin) (tiny speaker model width) instead of the hard-coded Linear(20480, gin)"],
        "sovits_version_detection": detection,
        # The shared tiny HuBERT (the e2e stage runs hubert_input → HuBERT → extract_latent).
        "e2e_hubert": {"shipped": False, "identical_to": os.path.relpath(os.path.join(inputs, "..", "fixtures", "models", "chinese-hubert-base-tiny"), out)},
        "files": files,
    }
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)


if __name__ == "__main__":
    main()
