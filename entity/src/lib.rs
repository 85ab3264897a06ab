//! sea-orm entities of qrscene's tables. Data only; the logic lives in the service.

pub mod qr_generation;
