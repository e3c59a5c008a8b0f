// Registers the routines of the Rust library with R (extendr's generated R_init function).
void R_init_scnym_extendr(void *dll);

void R_init_scnym(void *dll) { R_init_scnym_extendr(dll); }
