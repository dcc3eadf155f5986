# Continues the regions phase of `trainer` in the PyTorch replica from one of its checkpoints (weights,
# heads, AdamW moments, the learning rates of its metrics.jsonl), evaluating every 50 steps.
#   python3 scripts/regions-continue.py Checkpoints/vision/step-000200.h5 300 Checkpoints/vision/metrics.jsonl
import os, sys, json, math, h5py, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/experiments/grounding-pytorch"))
from common import make_vpm
from PIL import Image
torch.set_num_threads(1); torch.manual_seed(0)
ck, last = sys.argv[1], int(sys.argv[2])
f = h5py.File(ck)
vpm = make_vpm().train()
vpm.load_state_dict({k[4:]: torch.tensor(np.array(f["model"][k])) for k in f["model"] if k.startswith("vpm.")})
attrs = ["background", "color", "occupied", "shape", "size"]
heads = nn.ModuleDict()
for a in attrs:
    w = torch.tensor(np.array(f[f"objective/regions.{a}.weight"])); l = nn.Linear(w.shape[1], w.shape[0])
    l.weight.data.copy_(w); l.bias.data.copy_(torch.tensor(np.array(f[f"objective/regions.{a}.bias"]))); heads[a] = l
train = [json.loads(l) for l in open("Data/world/regions.jsonl")]
held = [json.loads(l) for l in open("Data/world/regions-heldout.jsonl")]
classes = {a: sorted({x for r in train for x in r["labels"][a] if x is not None}) for a in attrs}
def load(rs): return torch.stack([torch.from_numpy(np.array(Image.open("Data/world/" + r["image"]).convert("RGB"))).permute(2, 0, 1) for r in rs])
pix_tr = load(train); pix_he = load(held)
lab = lambda rs, a: torch.tensor([classes[a].index(x) if x is not None else -100 for r in rs for x in r["labels"][a]])
band = [0] * 5 + [1] * 6 + [2] * 5
cell_of = torch.tensor([band[r] * 3 + band[c] for r in range(16) for c in range(16)])
A = torch.zeros(9, 256); A[cell_of, torch.arange(256)] = 1; A = A / A.sum(1, keepdim=True)
def loss_of(pix, rs):
    feat = torch.einsum("cp,npd->ncd", A, vpm(pix.float() / 127.5 - 1).last_hidden_state).reshape(-1, 192)
    L = 0; acc = {}
    for a in attrs:
        y = lab(rs, a); lg = heads[a](feat); L = L + F.cross_entropy(lg, y, ignore_index=-100)
        mk = y >= 0; acc[a] = ((lg.argmax(-1)[mk] == y[mk]).sum().item(), mk.sum().item())
    return L, acc
# trainer's decay policy: matrices that are not embeddings; heads' weights.
named = [("vpm." + n, p) for n, p in vpm.named_parameters()] + [(f"regions.{a}.{n}", p) for a in attrs for n, p in heads[a].named_parameters()]
decay = [p for n, p in named if p.dim() >= 2 and "embed" not in n]; nodecay = [p for n, p in named if not (p.dim() >= 2 and "embed" not in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": nodecay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.98), eps=1e-8)
step0 = int(f["state/step"][()])
for n, p in named:
    st = opt.state[p]; g = f["optimizer"][n]
    st["step"] = torch.tensor(float(step0)); st["exp_avg"] = torch.tensor(np.array(g["m"])).reshape(p.shape).clone(); st["exp_avg_sq"] = torch.tensor(np.array(g["v"])).reshape(p.shape).clone()
lrs = {}
for l in open(sys.argv[3]):
    d = json.loads(l)
    if "lr" in d and "step" in d and "loss" in d: lrs[d["step"]] = d["lr"]
params = [p for _, p in named]
def evaluate(step):
    vpm.eval(); tot = {a: [0, 0] for a in attrs}; Ls = []
    with torch.no_grad():
        for s in range(0, len(held), 32):
            L, acc = loss_of(pix_he[s:s + 32], held[s:s + 32]); Ls.append(L.item())
            for a in attrs: tot[a][0] += acc[a][0]; tot[a][1] += acc[a][1]
    vpm.train(); print(json.dumps(dict(step=step, heldout_loss=round(float(np.mean(Ls)), 4), **{a: round(v[0] / v[1], 3) for a, v in tot.items()})), flush=True)
evaluate(step0)
g = torch.Generator().manual_seed(1); run = []
for step in range(step0 + 1, last + 1):
    ii = torch.randint(len(train), (32,), generator=g)
    L, _ = loss_of(pix_tr[ii], [train[i] for i in ii])
    opt.zero_grad(); L.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0)
    for gr in opt.param_groups: gr["lr"] = lrs.get(step, 1e-4)
    opt.step(); run.append(L.item())
    if step % 25 == 0: print(json.dumps(dict(step=step, train_loss=round(float(np.mean(run)), 4))), flush=True); run = []
    if step % 50 == 0: evaluate(step)
