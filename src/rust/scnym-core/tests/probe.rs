use tch::{Kind, Tensor, Device};
#[test]
fn probe() {
    tch::set_num_threads(1);
    let a = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
    let w = Tensor::randn([3, 2], (Kind::Float, Device::Cpu));
    let r = a.mm(&w);
    println!("{:?} mkl={} threads={}", r.size(), tch::utils::has_mkl(), tch::get_num_threads());
}
