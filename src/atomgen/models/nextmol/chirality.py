"""Handedness of stereocentres in 3D, for the conformer model: a training loss and a sampling-time steer.

Both read a centre's hand as the sign of the normalised signed volume u1·(u2×u3)/(|u1||u2||u3|) of the bonds to
its neighbours numbered 1, 2, 3 by the graph's chiral order (`atomgen.data.molecular_graphs`). That order makes
every centre counter-clockwise, and in 3D a counter-clockwise centre has a positive volume (a tetrahedral one
about +0.7), whatever the element, the R/S label or the molecule.
"""

from __future__ import annotations

import torch

CHIRALITY_MARGIN = 0.2
"""Normalised signed volume a stereocentre's prediction must reach on the true side (training loss); a
tetrahedral centre's is about 0.77, so the margin asks for a clearly tetrahedral centre of the right hand, not a
flat one."""


def stereocentre_volumes(x: torch.Tensor, chiral_order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised signed volume at every atom (B, N), meaningful at stereocentres only; stereocentre mask (B, N))
    of coordinates `x` (B, N, 3), for chiral orders (B, N, N)."""
    centre_mask = (chiral_order == 1).any(-1)
    neighbours = [(chiral_order == k).float().argmax(-1) for k in (1, 2, 3)]  # (B, N) each
    bonds = [torch.gather(x, 1, index[..., None].expand(-1, -1, 3)) - x for index in neighbours]
    unit = [bond / bond.norm(dim=-1, keepdim=True).clamp(min=1e-6) for bond in bonds]
    return (unit[0] * torch.cross(unit[1], unit[2], dim=-1)).sum(-1), centre_mask


def chirality_error(predicted: torch.Tensor, clean: torch.Tensor,
                    chiral_order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the squared hinge on each stereocentre's handedness (B, N), zero at other atoms; stereocentre mask (B, N)).

    The true sign is read from the clean coordinates; the hinge is max(0, margin - sign·volume)², zero for a
    prediction of the right hand clearly away from flat. Rotation-invariant; a mirror image scores badly.
    """
    truth, centre_mask = stereocentre_volumes(clean.float(), chiral_order)
    volumes, _ = stereocentre_volumes(predicted.float(), chiral_order)
    hinge = (CHIRALITY_MARGIN - torch.sign(truth) * volumes).clamp(min=0) ** 2
    return hinge * centre_mask, centre_mask


STEER_MARGIN = 0.5
"""Signed volume the steer asks of every stereocentre: well on the counter-clockwise side, a little short of a
tetrahedral centre's 0.7 so that strained ring centres (down to about 0.1 in QM9) are not bent further."""
STEER_TIMES = (0.3, 1.0)
"""Diffusion times at which the sampler steers: the hand of a centre is decided early in the chain, where the model
alone often picks the wrong one; below 0.3 the model finishes the local geometry unsteered, which keeps bond
lengths as good as without the steer. A hand the model insists on (some ring centres) survives the steer, and
is left to the mirror and the retries of `NExTMolModel.conformers`."""
STEER_ITERATIONS = 40
STEER_STEP = 0.02
"""Gradient steps of the steer, and their size in model units (about 0.03 Å per unit of gradient)."""


def steer_chirality(clean: torch.Tensor, chiral_order: torch.Tensor) -> torch.Tensor:
    """`clean` (B, N, 3) moved by gradient descent on Σ max(0, margin - volume)² over the stereocentres, so that
    every centre has the hand its chiral order asks for. Only centres and their neighbours move; a batch without
    stereocentres comes back unchanged."""
    centre_mask = (chiral_order == 1).any(-1)
    if not centre_mask.any():
        return clean
    x = clean.detach().float()
    with torch.enable_grad():
        for _ in range(STEER_ITERATIONS):
            x.requires_grad_(True)
            volumes, _ = stereocentre_volumes(x, chiral_order)
            hinge = ((STEER_MARGIN - volumes).clamp(min=0) ** 2 * centre_mask).sum()
            if not hinge.item():
                break
            (gradient,) = torch.autograd.grad(hinge, x)
            x = (x - STEER_STEP * gradient).detach()
    return x.detach().to(clean.dtype)
