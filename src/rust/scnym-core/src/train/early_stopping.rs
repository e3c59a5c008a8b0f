//! Model selection by the lowest validation loss, not before `min_epochs`, stopping after
//! `patience` epochs without improvement. Without a validation set every epoch is selected (the
//! last weights are kept) and training runs to `max_epochs`.

pub(crate) struct EarlyStopping {
    min_epochs: usize,
    patience: usize,
    best_loss: f64,
    best_epoch: usize,
}

impl EarlyStopping {
    pub fn new(min_epochs: usize, patience: usize) -> Self {
        EarlyStopping {
            min_epochs,
            patience,
            best_loss: f64::INFINITY,
            best_epoch: 0,
        }
    }

    /// Records epoch `epoch` (1-based); returns whether its weights become the selected ones.
    pub fn observe(&mut self, epoch: usize, val_loss: Option<f64>) -> bool {
        match val_loss {
            None => {
                self.best_epoch = epoch;
                true
            }
            Some(loss) => {
                if epoch < self.min_epochs || loss.is_nan() || loss >= self.best_loss {
                    return false;
                }
                self.best_loss = loss;
                self.best_epoch = epoch;
                true
            }
        }
    }

    /// 0 when nothing was selected yet.
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// True once `patience` epochs passed since the selected one.
    pub fn should_stop(&self, epoch: usize, has_validation: bool) -> bool {
        has_validation && self.best_epoch > 0 && epoch >= self.best_epoch + self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_waits_for_min_epochs_and_stops_after_patience() {
        let mut s = EarlyStopping::new(3, 2);
        assert!(!s.observe(1, Some(0.1)));
        assert!(!s.observe(2, Some(0.1)));
        assert!(s.observe(3, Some(0.5)));
        assert!(s.observe(4, Some(0.4)));
        assert!(!s.observe(5, Some(0.45)));
        assert!(!s.should_stop(5, true));
        assert!(!s.observe(6, Some(0.41)));
        assert!(s.should_stop(6, true));
        assert_eq!(s.best_epoch(), 4);
        let mut n = EarlyStopping::new(3, 2);
        assert!(n.observe(1, None));
        assert!(!n.should_stop(10, false));
    }
}
