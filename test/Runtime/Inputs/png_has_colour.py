"""png_has_colour.py FILE R G B: counts pixels of colour (R, G, B) (+-8 per
channel) in an 8-bit RGB/RGBA PNG (zlib only, no imaging library)."""
import struct
import sys
import zlib

path, rgb = sys.argv[1], tuple(int(v) for v in sys.argv[2:5])
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("png_has_colour: not a PNG")
at, idat, width = 8, b"", 0
while at < len(data):
    length, kind = struct.unpack(">I4s", data[at:at + 8])
    body = data[at + 8:at + 8 + length]
    if kind == b"IHDR":
        width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        if depth != 8 or ctype not in (2, 6):
            sys.exit("png_has_colour: only 8-bit RGB/RGBA")
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    at += 12 + length
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
count = 0
for y in range(height):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(width):
        px = line[x * bpp:x * bpp + 3]
        if all(abs(px[k] - rgb[k]) <= 8 for k in range(3)):
            count += 1
    prev = line
print(f"png_has_colour: {width}x{height}, {count} pixels of #{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}")
sys.exit(0 if count else 1)
