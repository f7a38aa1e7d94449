"""The two-view losses' shared input checks (drac_ssl.losses.view_pairs): the loss's own
name in each message, vicreg_loss's words unchanged, and the precision rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drac_ssl.losses import vicreg_loss
from drac_ssl.losses.view_pairs import at_least_float32, check_view_pair

CASES = [
    (np.zeros((4, 3)), torch.zeros(4, 3), TypeError,
     "{name} expects torch tensors (n, d); z_a is a numpy.ndarray: pass torch.as_tensor(z_a)."),
    (torch.zeros(4, 3), [[0.0]], TypeError,
     "{name} expects torch tensors (n, d); z_b is a builtins.list: pass torch.as_tensor(z_b)."),
    (torch.zeros(4, 3, 2), torch.zeros(4, 3, 2), ValueError,
     "{name} expects 2-D embeddings of shape (batch, dim); got shapes (4, 3, 2) and (4, 3, 2). "
     "Flatten the expander output first."),
    (torch.zeros(4, 3), torch.zeros(5, 3), ValueError,
     "{name} expects both views to have the same shape (batch, dim); got (4, 3) and (5, 3)."),
]


@pytest.mark.parametrize(("z_a", "z_b", "error", "words"), CASES)
def test_each_message_names_the_loss_that_was_called(z_a, z_b, error, words) -> None:  # type: ignore[no-untyped-def]
    for name in ("vicreg_loss", "another_loss"):
        with pytest.raises(error) as caught:
            check_view_pair(z_a, z_b, name)
        assert str(caught.value) == words.format(name=name)
    # vicreg_loss goes through the shared check, its words as before the move
    with pytest.raises(error) as caught:
        vicreg_loss(z_a, z_b)
    assert str(caught.value) == words.format(name="vicreg_loss")


def test_a_good_pair_passes_and_the_precision_is_at_least_float32() -> None:
    check_view_pair(torch.zeros(2, 3), torch.zeros(2, 3), "vicreg_loss")  # no error
    assert at_least_float32(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64
    for dtype in (torch.float16, torch.bfloat16, torch.int64, torch.float32):
        assert at_least_float32(torch.zeros(2, dtype=dtype)).dtype == torch.float32
