import numpy as np
from PIL import Image

from studio.core.settings import LaneRecipe
from studio.lab.contact_sheet import HEADER, LABEL_WIDTH, PAD, TILE, compose, row_label, sheet_items


def test_compose_places_every_tile_and_label():
    items = sheet_items(3)
    assert [i.seed for i in items] == [0, 1, 2]
    red = np.zeros((3, 32, 32, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((3, 32, 32, 3), np.uint8)
    blue[..., 2] = 255
    recipe = LaneRecipe(sampler="DDIM trailing", num_inference_steps=4, guidance_scale=1.0)
    label = row_label("student", recipe, 0.12)
    assert "0.12 s / image" in label and "4 steps" in label
    sheet = compose([("teacher", red), (label, blue)], [i.prompt for i in items])
    assert sheet.size == (LABEL_WIDTH + 3 * (TILE + PAD) + PAD, HEADER + 2 * (TILE + PAD) + PAD)
    x = LABEL_WIDTH + 2 * (TILE + PAD) + PAD + TILE // 2
    assert sheet.getpixel((x, HEADER + TILE // 2)) == (255, 0, 0)
    assert sheet.getpixel((x, HEADER + TILE + PAD + TILE // 2)) == (0, 0, 255)
    header = np.asarray(sheet.crop((LABEL_WIDTH, 0, sheet.width, HEADER)))
    assert (header < 100).any(), "the concept names are drawn"
    assert isinstance(sheet, Image.Image)
