//! One stable hash for every place medsim derives a number from names: episode seeds, split
//! order, the held-out parts of the evaluation sets. FNV-1a, 64 bits: the same on every machine
//! and release, which is what a recorded run needs (std's hasher may change).

/// FNV-1a of a byte stream, its offset basis mixed with `seed`.
pub fn fnv1a(seed: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_values_of_fnv1a() {
        // FNV-1a 64 of "" and "a" (seed 0), from the algorithm's published test vectors.
        assert_eq!(fnv1a(0, *b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(0, *b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(1, *b"a"), fnv1a(0, *b"a"));
    }
}
