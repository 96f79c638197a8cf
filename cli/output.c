/* placeholder: being written */
typedef int rms_placeholder_output_t;
