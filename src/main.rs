fn main() -> anyhow::Result<()> {
    gsv_server::device::doctor()
}
