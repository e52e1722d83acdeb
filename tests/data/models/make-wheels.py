#!/usr/bin/env python3
"""Writes the tiny wheels the model-installer tests hand out through fake-pip.

Member bytes follow test_bytes(seed, n) below; tests/test-app-models.c computes
the same bytes to know their sha256. Run from anywhere: python3 make-wheels.py
"""
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def test_bytes(seed, n):
    return bytes(((i * 131 + seed * 7 + (i >> 8)) & 0xFF) for i in range(n))


def wheel(name, version, members):
    fname = "%s-%s-py3-none-any.whl" % (name, version)
    info = "%s-%s.dist-info" % (name, version)
    files = dict(members)
    files[info + "/METADATA"] = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name.replace("_", "-"), version)).encode()
    files[info + "/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: make-wheels.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[info + "/RECORD"] = "".join("%s,,\n" % k for k in list(files) + [info + "/RECORD"]).encode()
    with zipfile.ZipFile(os.path.join(HERE, fname), "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            zi = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, files[path])


wheel("hark_test_split_1", "1.0.0", {"hark_test_split_1/data/model.bin.part1": test_bytes(1, 5000)})
wheel("hark_test_split_2", "1.0.0", {
    "hark_test_split_2/data/model.bin.part2": test_bytes(2, 3000),
    "hark_test_split_2/data/config.json": b'{"test": true}\n',
})
