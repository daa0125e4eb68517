mod batch;
mod encoding;
mod qc;
mod vectors;
