pub fn torch_threads() -> i32 {
    tch::get_num_threads()
}
