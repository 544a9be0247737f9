/* tests/decoders/test_image_fixture_sha.h — SHA-256 of stb_image's RGB8 pixels (stbi_load(..., 3),
 * libstb-dev) for the fixture media, made by scripts/gen_testdata_image.sh; included by test_image_decode.c. */
{"scene-1024x256.png", 1024, 256, "e1b609454c474bb1777cbaeb454f7258e131f257f633fcc03738a3d758ea3893"},
{"scene-333x517.png", 333, 517, "3cff4929e1f241b85635a4b7aaaeed8fc18608f0711ddd90bf232f32607c9879"},
{"scene-64x64.png", 64, 64, "9cfaefe68f2a644f2f459c2338835b15e0080d419e8f5d1b11b4bf59553c890a"},
{"test_image.png", 80, 60, "f75a2a0c8ab31ec722ba350e41d7d28f042eaca1b11f8c87b3699babcb213797"},
