//! Validation of headers, bodies and receipts.
