package dev.vouch.digest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

class DigestFunctionTest {
    private static final String FIPS_448_BITS = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    /** Published vectors: FIPS 180 (SHA), RFC 1321 (MD5), the BLAKE3 team's test_vectors.json. */
    static Stream<Arguments> knownAnswers() {
        return Stream.of(
                Arguments.of(DigestFunction.SHA256, ascii(""),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                Arguments.of(DigestFunction.SHA256, ascii("abc"),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                Arguments.of(DigestFunction.SHA256, ascii(FIPS_448_BITS),
                        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
                Arguments.of(DigestFunction.SHA1, ascii(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
                Arguments.of(DigestFunction.SHA1, ascii("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d"),
                Arguments.of(DigestFunction.SHA1, ascii(FIPS_448_BITS), "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
                Arguments.of(DigestFunction.MD5, ascii(""), "d41d8cd98f00b204e9800998ecf8427e"),
                Arguments.of(DigestFunction.MD5, ascii("abc"), "900150983cd24fb0d6963f7d28e17f72"),
                Arguments.of(DigestFunction.MD5, ascii("message digest"), "f96b697d7cb7938d525a2f31aaf161d0"),
                Arguments.of(DigestFunction.SHA384, ascii(""),
                        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
                Arguments.of(DigestFunction.SHA384, ascii("abc"),
                        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
                Arguments.of(DigestFunction.SHA512, ascii(""),
                        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                                + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
                Arguments.of(DigestFunction.SHA512, ascii("abc"),
                        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                                + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
                Arguments.of(DigestFunction.BLAKE3, ascii(""),
                        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
                Arguments.of(DigestFunction.BLAKE3, ascii("abc"),
                        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"),
                // the official vectors' input: bytes 0, 1, ..., 250 repeated; lengths straddle BLAKE3's 1 KiB chunks
                Arguments.of(DigestFunction.BLAKE3, blake3Input(1),
                        "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"),
                Arguments.of(DigestFunction.BLAKE3, blake3Input(1023),
                        "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"),
                Arguments.of(DigestFunction.BLAKE3, blake3Input(1024),
                        "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"),
                Arguments.of(DigestFunction.BLAKE3, blake3Input(1025),
                        "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"),
                Arguments.of(DigestFunction.BLAKE3, blake3Input(2049),
                        "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"),
                Arguments.of(DigestFunction.BLAKE3, blake3Input(3073),
                        "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"));
    }

    @ParameterizedTest(name = "{0} of {1} bytes")
    @MethodSource("knownAnswers")
    void knownAnswer(DigestFunction function, byte[] input, String expected) {
        assertThat(function.digestOf(input)).isEqualTo(new Digest(expected, input.length));
        assertThat(expected).hasSize(function.hexLength());
    }

    @ParameterizedTest
    @EnumSource(DigestFunction.class)
    void manySmallChunksHashLikeOneCall(DigestFunction function) {
        byte[] data = new byte[200_003];
        new Random(42).nextBytes(data);
        Digest whole = function.digestOf(data);

        Hasher hasher = function.newHasher();
        Random sizes = new Random(7);
        int position = 0;
        int turn = 0;
        while (position < data.length) {
            int n = Math.min(data.length - position, 1 + sizes.nextInt(3000));
            // every way a chunk can arrive: array slice, heap buffer at an offset, direct buffer
            switch (turn++ % 3) {
                case 0 -> hasher.update(data, position, n);
                case 1 -> {
                    ByteBuffer heap = ByteBuffer.wrap(data, position, n).slice();
                    hasher.update(heap);
                    assertThat(heap.hasRemaining()).isFalse();
                }
                default -> {
                    ByteBuffer direct = ByteBuffer.allocateDirect(n).put(data, position, n).flip();
                    hasher.update(direct);
                    assertThat(direct.hasRemaining()).isFalse();
                }
            }
            position += n;
            assertThat(hasher.size()).isEqualTo(position);
        }

        assertThat(hasher.finish()).isEqualTo(whole);
    }

    @ParameterizedTest
    @EnumSource(DigestFunction.class)
    void mapsToTheReapiValueOfTheSameName(DigestFunction function) {
        assertThat(function.toProto().name()).isEqualTo(function.name());
        assertThat(DigestFunction.fromProto(function.toProto())).contains(function);
        assertThat(DigestFunction.byName(function.name())).contains(function);
    }

    @Test
    void blake3IsReapiNine() {
        assertThat(DigestFunction.BLAKE3.toProto().getNumber()).isEqualTo(9);
        assertThat(DigestFunction.BLAKE3.hexLength()).isEqualTo(64);
    }

    @Test
    void unknownProtoValueMeansSha256() {
        assertThat(DigestFunction.fromProto(build.bazel.remote.execution.v2.DigestFunction.Value.UNKNOWN))
                .contains(DigestFunction.SHA256);
    }

    @Test
    void finishedHasherRefusesMoreInput() {
        Hasher hasher = DigestFunction.BLAKE3.newHasher().update(ascii("abc"));
        hasher.finish();

        assertThatThrownBy(() -> hasher.update(ascii("d"))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(hasher::finish).isInstanceOf(IllegalStateException.class);
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] blake3Input(int length) {
        byte[] input = new byte[length];
        for (int i = 0; i < length; i++) {
            input[i] = (byte) (i % 251);
        }
        return input;
    }
}
