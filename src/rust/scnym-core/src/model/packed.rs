//! Predictions as bytes, for the processes that predict blocks of cells in parallel: a worker
//! hands back its block's outputs as one buffer of f32 values (half the bytes of R's doubles,
//! copied rather than converted value by value when R serialises it), and the process that
//! split the cells joins the blocks in order ([`Predictions::join`]).
//!
//! Layout, little-endian: `n_cells`, `n_classes`, `embedding_dim`, and the lengths of
//! `embedding`, `novelty` and `disagreement` as u64; then `probabilities` and those three as f32.
//! The logits are not carried (no caller of a block reads them): unpacked, they are empty.

use super::Predictions;
use crate::error::{Error, Result};

const HEADER: usize = 6;

impl Predictions {
    /// The outputs as bytes (see the module notes); `embedding = false` leaves the embedding out.
    pub fn to_bytes(&self, embedding: bool) -> Vec<u8> {
        let embedding: &[f32] = if embedding { &self.embedding } else { &[] };
        let parts = [
            &self.probabilities[..],
            embedding,
            &self.novelty,
            &self.disagreement,
        ];
        let n_values: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(8 * HEADER + 4 * n_values);
        for n in [
            self.n_cells,
            self.n_classes,
            self.embedding_dim,
            embedding.len(),
            self.novelty.len(),
            self.disagreement.len(),
        ] {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        for part in parts {
            for v in part {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Outputs from [`Predictions::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Predictions> {
        let bad = || Error::internal("packed predictions of the wrong size");
        if bytes.len() < 8 * HEADER {
            return Err(bad());
        }
        let (head, body) = bytes.split_at(8 * HEADER);
        let mut n = [0usize; HEADER];
        for (slot, chunk) in n.iter_mut().zip(head.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *slot = usize::try_from(u64::from_le_bytes(le)).map_err(|_| bad())?;
        }
        let [n_cells, n_classes, embedding_dim, n_embedding, n_novelty, n_disagreement] = n;
        let lengths = [
            n_cells.checked_mul(n_classes).ok_or_else(bad)?,
            n_embedding,
            n_novelty,
            n_disagreement,
        ];
        let fits =
            |len: usize, per_cell: usize| len == 0 || Some(len) == n_cells.checked_mul(per_cell);
        let n_bytes = lengths
            .iter()
            .try_fold(0usize, |sum, &len| sum.checked_add(len))
            .and_then(|n| n.checked_mul(4));
        if !(fits(n_embedding, embedding_dim) && fits(n_novelty, 1) && fits(n_disagreement, 1))
            || n_bytes != Some(body.len())
        {
            return Err(bad());
        }
        let mut values = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |len: usize| values.by_ref().take(len).collect::<Vec<f32>>();
        Ok(Predictions {
            n_cells,
            n_classes,
            embedding_dim,
            logits: Vec::new(),
            probabilities: take(lengths[0]),
            embedding: take(lengths[1]),
            novelty: take(lengths[2]),
            disagreement: take(lengths[3]),
        })
    }

    /// The outputs of consecutive blocks of cells as one, cells in block order. Every block must
    /// come from the same model and carry the same outputs.
    pub fn join(blocks: &[Predictions]) -> Result<Predictions> {
        let first = blocks
            .first()
            .ok_or_else(|| Error::internal("no blocks of predictions to join"))?;
        let alike = |b: &Predictions| {
            b.n_classes == first.n_classes
                && b.embedding_dim == first.embedding_dim
                && b.embedding.is_empty() == first.embedding.is_empty()
                && b.novelty.is_empty() == first.novelty.is_empty()
                && b.disagreement.is_empty() == first.disagreement.is_empty()
                && b.logits.is_empty() == first.logits.is_empty()
        };
        if !blocks.iter().all(alike) {
            return Err(Error::internal(
                "blocks of predictions that differ in outputs",
            ));
        }
        let cat = |part: fn(&Predictions) -> &Vec<f32>| -> Vec<f32> {
            blocks
                .iter()
                .flat_map(|b| part(b).iter().copied())
                .collect()
        };
        Ok(Predictions {
            n_cells: blocks.iter().map(|b| b.n_cells).sum(),
            n_classes: first.n_classes,
            embedding_dim: first.embedding_dim,
            logits: cat(|b| &b.logits),
            probabilities: cat(|b| &b.probabilities),
            embedding: cat(|b| &b.embedding),
            novelty: cat(|b| &b.novelty),
            disagreement: cat(|b| &b.disagreement),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n_cells: usize, start: f32, with_novelty: bool) -> Predictions {
        let seq = |len: usize, offset: f32| (0..len).map(|i| start + offset + i as f32).collect();
        Predictions {
            n_cells,
            n_classes: 3,
            embedding_dim: 2,
            logits: Vec::new(),
            probabilities: seq(3 * n_cells, 0.0),
            embedding: seq(2 * n_cells, 0.5),
            novelty: if with_novelty {
                seq(n_cells, 0.25)
            } else {
                Vec::new()
            },
            disagreement: Vec::new(),
        }
    }

    #[test]
    fn packed_predictions_round_trip() {
        let p = block(4, 1.0, true);
        assert_eq!(Predictions::from_bytes(&p.to_bytes(true)).unwrap(), p);
        let without = Predictions::from_bytes(&p.to_bytes(false)).unwrap();
        assert!(without.embedding.is_empty());
        assert_eq!(without.probabilities, p.probabilities);
        assert_eq!(without.novelty, p.novelty);
    }

    #[test]
    fn packed_predictions_of_the_wrong_size_are_refused() {
        let bytes = block(4, 1.0, true).to_bytes(true);
        assert!(Predictions::from_bytes(&bytes[..bytes.len() - 4]).is_err());
        assert!(Predictions::from_bytes(&bytes[..10]).is_err());
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(Predictions::from_bytes(&longer).is_err());
    }

    #[test]
    fn joined_blocks_keep_the_cell_order() {
        let (a, b) = (block(2, 0.0, true), block(3, 100.0, true));
        let joined = Predictions::join(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(joined.n_cells, 5);
        assert_eq!(joined.probabilities[..6], a.probabilities[..]);
        assert_eq!(joined.probabilities[6..], b.probabilities[..]);
        assert_eq!(joined.embedding[4..], b.embedding[..]);
        assert_eq!(joined.novelty[2..], b.novelty[..]);
        assert!(Predictions::join(&[a, block(1, 0.0, false)]).is_err());
        assert!(Predictions::join(&[]).is_err());
    }
}
