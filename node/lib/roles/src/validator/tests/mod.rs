mod encoding;
mod qc;
mod vectors;
