//! The [`FaultClass`] of the errors of this crate.

use hypasis_primitives::{Fault, FaultClass};

use crate::eth::EncodeError;

impl Fault for EncodeError {
    /// Encoding fails only on malformed *local* data (e.g. a stored receipt): retrying the
    /// same data cannot help.
    fn fault(&self) -> FaultClass {
        FaultClass::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_local_data_is_fatal() {
        let e = EncodeError {
            message: "Receipts",
            reason: "not a receipt".into(),
        };
        assert_eq!(e.fault(), FaultClass::Fatal);
    }
}
