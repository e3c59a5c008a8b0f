//! Seeding. One user seed fixes everything: our own ChaCha streams (splits, shuffles, masks, MixUp,
//! weight initialisation, dropout masks). libtorch's global generator is never used, so results do
//! not depend on anything else the process does with it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random number generator used for every choice the engine makes itself.
pub type EngineRng = ChaCha8Rng;

/// Independent streams derived from the one seed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    Split = 1,
    Init = 2,
    Train = 3,
}

/// SplitMix64 finaliser: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for stream `stream` (and sub-index `index`) derived from the user seed.
pub(crate) fn derive_seed(seed: u64, stream: Stream, index: u64) -> u64 {
    mix(mix(seed ^ mix(stream as u64)) ^ index)
}

/// A generator for one stream.
pub(crate) fn stream(seed: u64, stream: Stream) -> EngineRng {
    EngineRng::seed_from_u64(derive_seed(seed, stream, 0))
}
