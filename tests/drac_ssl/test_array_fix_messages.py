"""An array grading refuses says the conversion that makes it one it takes, for its dtype and
shape (a trial user: float 0..1 and uint16 arrays were told to use ``conform_channels``, which
refuses them too; a PIL image was told to use ``read_image``), and a missing file says what to
do. Each fix the message gives is run here and then grades."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from png_bytes import walk_scan as _scan

from drac_ssl.grading import conform_channels, grade_images, load_bundle, read_image
from drac_ssl.grading.bundle import Bundle
from drac_ssl.grading.predict import array_fix


@pytest.fixture(scope="module")
def grey(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    from app.demo_bundle import build_demo_bundle

    return load_bundle(build_demo_bundle(tmp_path_factory.mktemp("grey"), image_size=32, source_size=48,
                                         n_folds=1))


@pytest.fixture(scope="module")
def colour(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    from app.demo_bundle import build_demo_bundle

    return load_bundle(build_demo_bundle(tmp_path_factory.mktemp("colour"), image_size=32, source_size=48,
                                         n_folds=1, channels=3))


def _refusal(bundle: Bundle, image: np.ndarray) -> str:
    with pytest.raises(ValueError) as refused:
        grade_images(bundle, [image])
    return str(refused.value)


def _run_fix(message: str, image: np.ndarray, bundle: Bundle) -> np.ndarray:
    """Each ``image = ...`` step of the message's fix, run in turn (as a user would paste it)."""
    fix = message.split("fix: ", 1)[1]
    steps = re.findall(r"image(?:, said)? = (.+?)(?:  #[^;]*)?(?:; then |; or read files)", fix)
    assert steps, fix
    for step in steps:
        value = eval(step, {"np": np, "image": image, "bundle": bundle,  # noqa: S307 (the message's code)
                            "conform_channels": conform_channels})
        image = value[0] if isinstance(value, tuple) else value
    return image


def test_floats_in_0_1_get_the_scaling_not_conform_channels(grey: Bundle) -> None:
    image = _scan().astype(np.float32) / 255
    message = _refusal(grey, image)
    assert "(np.clip(image, 0, 1) * 255).round().astype(np.uint8)" in message
    assert "conform_channels(" not in message  # it refuses floats too: the trial's dead end
    fixed = _run_fix(message, image, grey)
    assert fixed.dtype == np.uint8 and np.abs(fixed.astype(int) - _scan()).max() <= 1
    assert grade_images(grey, [fixed]).probs.shape == (1, 3)


def test_floats_in_0_255_and_16_bit_values_get_their_own_conversion(grey: Bundle) -> None:
    floats = _scan().astype(np.float64) + 0.2
    message = _refusal(grey, floats)
    assert "np.clip(image, 0, 255).round().astype(np.uint8)" in message
    assert (_run_fix(message, floats, grey) == _scan()).all()
    deep = _scan().astype(np.uint16) * 257  # a 16-bit scan of the full range
    message = _refusal(grey, deep)
    assert "(image >> 8).astype(np.uint8)" in message and "read_image(path, 1)" in message
    assert (_run_fix(message, deep, grey) == _scan()).all()
    twelve = _scan().astype(np.uint16) * 16  # 12-bit data: the top 8 of 12 bits
    message = _refusal(grey, twelve)
    assert "(image >> 4).astype(np.uint8)" in message and "12-bit data" in message
    assert (_run_fix(message, twelve, grey) == _scan()).all()
    small_ints = _scan().astype(np.int64)  # np.array of a list of lists: int64 values 0..255
    assert "image.astype(np.uint8)" in _refusal(grey, small_ints)
    odd = _scan().astype(np.float32) * 4 - 300  # a normalised model input is not an image
    assert "not 0..1 or 0..255" in _refusal(grey, odd)


def test_conform_channels_refusing_a_float_colour_array_gives_both_steps(grey: Bundle) -> None:
    rgb = np.stack([_scan(64, 1), _scan(64, 2), _scan(64, 3)], -1).astype(np.float32) / 255
    with pytest.raises(ValueError) as refused:
        conform_channels(rgb, 1, kind="octa")
    message = str(refused.value)
    assert message.index("* 255") < message.index("conform_channels(image, 1, kind=bundle.kind)")
    fixed = _run_fix(message, rgb, grey)
    assert fixed.shape == (64, 64) and fixed.dtype == np.uint8
    assert grade_images(grey, [fixed]).probs.shape == (1, 3)


def test_shapes_rgba_channel_first_and_channels_get_their_fix(grey: Bundle, colour: Bundle) -> None:
    rgb = np.stack([_scan(64, 1), _scan(64, 2), _scan(64, 3)], -1)
    rgba = np.concatenate([rgb, np.full((64, 64, 1), 255, np.uint8)], -1)
    message = _refusal(colour, rgba)
    assert "image = image[..., :3]" in message and "COLOR_BGR2RGB" in message
    assert (_run_fix(message, rgba, colour) == rgb).all()
    chw = np.moveaxis(rgb, -1, 0)
    message = _refusal(colour, chw)
    assert "np.moveaxis(image, 0, -1)" in message
    assert (_run_fix(message, chw, colour) == rgb).all()
    message = _refusal(grey, rgb)  # colour for a grey model: converted as the ingest does, said
    assert "conform_channels(image, 1, kind=bundle.kind)" in message
    assert _run_fix(message, rgb, grey).shape == (64, 64)
    assert "conform_channels(image, 3, grey_trained=bundle.grey_trained)" in _refusal(colour, _scan())
    assert array_fix(_scan(), 1) == ""


def test_a_pil_image_is_told_to_become_an_rgb_array(grey: Bundle, colour: Bundle) -> None:
    picture = Image.fromarray(np.stack([_scan(64, 1), _scan(64, 2), _scan(64, 3)], -1))
    with pytest.raises(TypeError) as refused:
        grade_images(colour, [picture])  # type: ignore[list-item]
    message = str(refused.value)
    assert "image 0 is a PIL image (Image, mode RGB, (64, 64))" in message
    assert 'np.asarray(img.convert("RGB"))' in message and "read_image" not in message.split("fix:")[1]
    assert grade_images(colour, [np.asarray(picture.convert("RGB"))]).probs.shape == (1, 3)
    with pytest.raises(TypeError, match=r'np.asarray\(img.convert\("L"\)\) for a grey picture'):
        grade_images(grey, [picture])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"got one PIL image .*\n  fix: pass \[np.asarray"):
        grade_images(colour, picture)  # type: ignore[arg-type]


def test_a_missing_file_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as missing:
        read_image("gone.png", 1)
    assert str(missing.value) == (f"gone.png: no such image file -> check the path (a relative path is read "
                                  f"from the current folder, {tmp_path})")
    with pytest.raises(FileNotFoundError) as missing:
        read_image(tmp_path / "gone.png", 1)
    assert str(missing.value) == f"{tmp_path / 'gone.png'}: no such image file -> check the path"


def test_a_colour_pil_image_on_a_grey_model_keeps_the_words_of_its_conversion(grey: Bundle) -> None:
    """Review F3: the fix was ``conform_channels(...)[0]``, which drops the words that say a
    colour picture may not be UW-OCTA, the words the docs say to pass as ``file_warnings``."""
    img = Image.fromarray(np.stack([_scan(64, 1), _scan(64, 2), _scan(64, 3)], -1))
    with pytest.raises(TypeError) as refused:
        grade_images(grey, [img])  # type: ignore[list-item]
    message = str(refused.value)
    code = 'conform_channels(np.asarray(img.convert("RGB")), 1, kind=bundle.kind)'
    assert f"image, said = {code}" in message and "file_warnings=[said]" in message
    assert ")[0]" not in message
    image, said = eval(code, {"np": np, "img": img, "bundle": grey,  # noqa: S307 (the message's code)
                              "conform_channels": conform_channels})
    assert grade_images(grey, [image], file_warnings=[said]).not_reliably_gradable == [
        ["a colour picture, not UW-OCTA"]]
    with pytest.raises(TypeError, match=r"then pass \[image\] with file_warnings=\[said\]"):
        grade_images(grey, img)  # type: ignore[arg-type]


def test_a_tensor_is_told_to_become_a_numpy_array_first(grey: Bundle, colour: Bundle) -> None:
    """Review F4: a torch tensor (grading takes one) was told numpy steps (np.moveaxis,
    .astype) that fail on a tensor."""
    torch = pytest.importorskip("torch")
    rgb = np.stack([_scan(64, 1), _scan(64, 2), _scan(64, 3)], -1)
    tensor = torch.from_numpy(np.moveaxis(rgb, -1, 0).astype(np.float32) / 255).requires_grad_()  # (C, H, W)
    message = _refusal(colour, tensor)
    assert message.split("fix: ", 1)[1].startswith("image = image.detach().cpu().numpy()")
    fixed = _run_fix(message, tensor, colour)
    assert isinstance(fixed, np.ndarray) and np.abs(fixed.astype(int) - rgb).max() <= 1
    assert grade_images(colour, [fixed]).probs.shape == (1, 3)
    with pytest.raises(ValueError) as refused:
        conform_channels(torch.from_numpy(_scan().astype(np.float32) / 255), 1)
    assert "image = image.detach().cpu().numpy()" in str(refused.value)
    assert array_fix(torch.from_numpy(_scan()), 1) == ""  # a uint8 (H, W) tensor: graded as it is
    assert grade_images(grey, [torch.from_numpy(_scan())]).probs.shape == (1, 3)


def test_a_16_bit_pil_image_is_not_told_to_convert_to_8_bits(grey: Bundle) -> None:
    """Review F4: a 16-bit Pillow image (mode I;16, I, F) was told ``img.convert("L")``, which
    clips its values at 255: a few grey levels left."""
    deep = _scan().astype(np.uint16) * 257
    img = Image.fromarray(deep)
    assert img.mode == "I;16" and len(np.unique(np.asarray(img.convert("L")))) < 10  # the trap
    with pytest.raises(TypeError) as refused:
        grade_images(grey, [img])  # type: ignore[list-item]
    message = str(refused.value)
    assert 'pass np.asarray(img.convert("L"))' not in message and "read_image(path, 1" in message
    assert "image = np.asarray(img); then image = (image >> 8).astype(np.uint8)" in message
    image = (np.asarray(img) >> 8).astype(np.uint8)
    assert (image == _scan()).all()
    for wide in (Image.fromarray(deep.astype(np.int32)), Image.fromarray(deep.astype(np.float32) / 65535)):
        assert wide.mode in ("I", "F")
        with pytest.raises(TypeError, match=r"holds more than 8 bits a pixel.*image = np.asarray\(img\)"):
            grade_images(grey, [wide])  # type: ignore[list-item]


def test_array_fix_checks_channels_and_tells_a_path_to_be_read(tmp_path: Path, grey: Bundle) -> None:
    """Review F5: ``array_fix(image, 2)`` returned "" (conform_channels raises); a path was told
    ``np.asarray(image, dtype=np.uint8)``, which raises; the 16-bit fix of data above 4095
    offered ``>> 4`` for 12-bit data as well."""
    for channels in (0, 2, 4, True):
        with pytest.raises(ValueError, match="a model reads 1 or 3 channels"):
            array_fix(_scan(), channels)
    path = tmp_path / "a.png"
    Image.fromarray(_scan()).save(path)
    for given in (str(path), path):
        fix = array_fix(given, 1)
        assert fix.startswith("image, said = read_image(image, 1, kind=bundle.kind") and "np.asarray" not in fix
        code = fix.split(" = ", 1)[1].split("  #")[0]
        image, said = eval(code, {"image": given, "bundle": grey, "read_image": read_image})  # noqa: S307
        assert (image == _scan()).all() and said == []
    sixteen = array_fix(_scan().astype(np.uint16) * 257, 1)
    assert "(image >> 8)" in sixteen and ">> 4" not in sixteen and "12-bit" not in sixteen
    twelve = array_fix(_scan().astype(np.uint16) * 16, 1)
    assert "(image >> 4)" in twelve and "12-bit data" in twelve


def test_read_image_checks_channels_before_the_file(tmp_path: Path) -> None:
    """``read_image(path, 2)`` read (up to 512 MiB of) the file and decoded it before
    ``conform_channels`` refused the 2; a missing file said "no such image file" instead of the
    call's error. The channels are checked first, as a plain ValueError."""
    for path in (tmp_path / "gone.png", tmp_path):
        with pytest.raises(ValueError, match=r"read_image: a model reads 1 or 3 channels, not 2") as caught:
            read_image(path, 2)
        assert not isinstance(caught.value, OSError)
